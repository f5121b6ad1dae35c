"""`anklet decode`: a raw capture re-decodes into the same samples a live session wrote."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from accounting import lost_indices
from anklet.capture import CaptureError, decode_capture
from anklet.session import WARMUP_S
from anklet_protocol.decoder import DecoderStats
from simhelpers import read_meta, read_samples, record_until, rows_written
from streaming_board import BLOCK, record

IMU_COLUMNS = ("ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps")


@pytest.fixture
def live_session(sim, tmp_path):
    # 6 s of rows, however long the board takes to boot and stream on a busy machine.
    done = rows_written(6 * 200)
    return asyncio.run(record_until(sim, tmp_path / "live", 200, done, keep_raw=True))


def test_capture_decodes_to_the_live_samples(live_session, tmp_path):
    bare = tmp_path / "port-dump.bin"  # bytes alone, without the live timeline
    bare.write_bytes((live_session.folder / "capture.bin").read_bytes())
    result = decode_capture(bare, tmp_path / "decoded")
    live = read_samples(live_session.folder)
    decoded = read_samples(result.folder)
    # The same bytes the live session read: frames a busy machine let the port damage are
    # damaged in the capture too, and were refilled live.
    live_loss = read_meta(live_session.folder)["loss"]
    live_stats = DecoderStats(**live_loss["decoder"])
    assert result.stats.bad_frames == live_stats.bad_frames
    # Samples the board itself lost (its IMU FIFO overflowed while a saturated PC held it back),
    # and a tail its last RESEND answer announced but the session ended before it came, are
    # lost in both; the bytes alone lose nothing more.
    assert result.accounting.lost == live_loss["samples_lost"]
    live_by_index = {r["index"]: r for r in live}
    assert len(decoded) >= len(live)
    for row in decoded:
        if row["index"] in live_by_index:
            assert [row[c] for c in IMU_COLUMNS] == [
                live_by_index[row["index"]][c] for c in IMU_COLUMNS
            ]
    t = [float(r["t_s"]) for r in decoded]
    assert t[0] == pytest.approx(0.0, abs=0.01)
    assert read_meta(result.folder)["complete"] is True


def test_corrupted_capture_counts_bad_frames_and_keeps_the_rest(live_session, tmp_path):
    data = bytearray((live_session.folder / "capture.bin").read_bytes())
    # The live session's own damage first: a frame a reconnect cut is in the capture too (a
    # saturated run's had 2), and counted as the live session counted it.
    before = decode_capture(live_session.folder / "capture.bin", tmp_path / "undamaged").stats
    flips = random.Random(5).sample(range(len(data)), 20)
    # A byte flipped into the frame delimiter splits its frame in two damaged ones.
    splits = sum(data[at] == 0x5A for at in flips)
    for at in flips:
        data[at] ^= 0x5A
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(bytes(data))
    result = decode_capture(damaged, tmp_path / "decoded")
    assert result.stats.bad_frames > before.bad_frames
    # At most one frame per flipped byte, two where it made a delimiter.
    assert result.stats.bad_frames - before.bad_frames <= len(flips) + splits
    assert result.accounting.lost > 0  # what the damaged frames held, counted
    assert result.samples + result.accounting.lost == result.accounting.expected


def test_missing_capture_is_a_clear_error(tmp_path):
    with pytest.raises(CaptureError, match="no such capture file"):
        decode_capture(tmp_path / "nope.bin", tmp_path / "out")


def test_capture_without_info_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(1, 256)) * 40)
    with pytest.raises(CaptureError, match="no INFO frame"):
        decode_capture(junk, tmp_path / "out")


def test_decoded_raw_session_is_the_live_session_byte_for_byte(live_session, tmp_path):
    live = live_session.folder
    result = decode_capture(live / "capture.bin", tmp_path / "decoded")
    assert result.exact and result.note == ""
    assert result.folder.name == live.name  # the recording's own start time, not the decode's
    for name in ("samples.csv", "force.csv"):
        assert (result.folder / name).read_bytes() == (live / name).read_bytes(), name
    live_meta, decoded_meta = read_meta(live), read_meta(result.folder)
    assert decoded_meta["started_utc"] == live_meta["started_utc"]
    assert decoded_meta["clock"] == live_meta["clock"]
    assert decoded_meta["loss"]["samples_received"] == live_meta["loss"]["samples_received"]


def test_capture_without_its_timeline_decodes_on_the_board_clock_and_says_so(
    live_session, tmp_path
):
    bare = tmp_path / "port-dump.bin"
    bare.write_bytes((live_session.folder / "capture.bin").read_bytes())
    result = decode_capture(bare, tmp_path / "decoded")
    assert not result.exact
    assert "no capture.jsonl beside the capture" in result.note
    assert result.samples == live_session.samples


def _after_warm_up(lines: list[str], rate_hz: int) -> int:
    """The line just after the first write once the board's clock warm-up (WARMUP_S of samples,
    and half a second more) has come, so the live session had written rows there. Found by the
    board's sample index, not by line count: how the lines spread over the recording depends on
    how the machine scheduled the board (half the lines once held no row, beside two busy loops).
    """
    entries = [json.loads(line) for line in lines[1:]]
    first = next(e[2] for e in entries if e[0] == "block")
    past_warm_up = first + round((WARMUP_S + 0.5) * rate_hz)
    arrived = False
    for number, entry in enumerate(entries, start=1):
        arrived = arrived or (entry[0] == "block" and entry[2] >= past_warm_up)
        if arrived and entry[0] == "write":
            return number + 1
    raise AssertionError("the live session's timeline never got past its warm-up")


def test_a_timeline_cut_off_by_a_crash_replays_as_far_as_it_goes(live_session, tmp_path):
    folder = tmp_path / "crashed"
    folder.mkdir()
    (folder / "capture.bin").write_bytes((live_session.folder / "capture.bin").read_bytes())
    lines = (live_session.folder / "capture.jsonl").read_text().splitlines(keepends=True)
    cut = _after_warm_up(lines, rate_hz=200)
    (folder / "capture.jsonl").write_text("".join(lines[:cut]) + lines[cut][:7])  # cut mid-line
    result = decode_capture(folder / "capture.bin", tmp_path / "decoded")
    assert not result.exact
    assert "did not end cleanly" in result.note
    decoded = read_samples(result.folder)
    live = read_samples(live_session.folder)
    assert 0 < len(decoded) < len(live)
    # What it wrote, it wrote as the live session did: the same samples, and the rows its
    # timeline wrote before the cut at the same times. The rows it had not written yet are
    # placed on the clock as it stood at the cut; the live session wrote them after refining
    # it: a µs or so away when the syncs are quick, more on a saturated machine (seen once
    # beside two busy loops), so their times are not compared.
    assert 0 < result.rows_as_live <= len(decoded)
    pairs = zip(decoded[: result.rows_as_live], live, strict=False)
    assert all(abs(float(d["t_s"]) - float(v["t_s"])) <= 1e-6 for d, v in pairs)
    _assert_rows_are_the_live_ones_or_counted_lost(result, decoded, live)


def _assert_rows_are_the_live_ones_or_counted_lost(result, decoded, live) -> None:
    """Each replayed row is the live row of its index (all but t_s). Where the cut came
    while a hole waited for the board's re-send, the live session filled it later and the
    replay could not: those samples are counted lost (seen once beside two busy loops: 1152
    samples from index 108 had not come back at the cut)."""

    lost = lost_indices(read_meta(result.folder))

    def drop_t(row):
        return {k: v for k, v in row.items() if k != "t_s"}

    def as_live(row):
        """The live row, but for a force the replay could not know: the first rows after
        such a hole precede the next load sample, and the one before them was in the hole
        (seen once beside two busy loops: rows 780 and 781 after a hole from 360). Within 20
        samples (100 ms at 200 Hz), more than the 3 load periods a force is held."""
        expected = dict(live_by_index[row["index"]])
        if row["force_n"] == "" and any(int(row["index"]) - n in lost for n in range(1, 20)):
            expected["force_n"] = ""
        return expected

    live_by_index = {row["index"]: drop_t(row) for row in live}
    assert [drop_t(row) for row in decoded] == [as_live(row) for row in decoded]
    written = {int(row["index"]) for row in decoded}
    last = max(written)
    missing = set(range(last + 1)) - written
    assert missing <= lost
    assert result.samples + result.accounting.lost == result.accounting.expected


def test_a_crash_while_a_hole_awaits_its_resend_counts_the_hole_lost(tmp_path):
    # Block 5 never reaches the host; the board re-sends it when asked. The timeline is cut
    # just before the re-sent block came in: the replay has what came after the hole, not
    # the hole.
    summary, _ = record(tmp_path, dict(blocks=40, lost={5}), keep_raw=True)
    live_folder = summary.folder
    assert summary.lost == 0 and summary.refilled >= BLOCK
    lines = (live_folder / "capture.jsonl").read_text().splitlines(keepends=True)
    resent = next(
        n for n, line in enumerate(lines[1:], start=1)
        if json.loads(line)[:1] == ["block"] and json.loads(line)[2] == 5 * BLOCK
    )  # fmt: skip
    before_cut = [json.loads(line) for line in lines[1:resent]]
    assert any(e[0] == "block" and e[2] > 5 * BLOCK for e in before_cut)  # past the hole
    folder = tmp_path / "crashed"
    folder.mkdir()
    (folder / "capture.bin").write_bytes((live_folder / "capture.bin").read_bytes())
    (folder / "capture.jsonl").write_text("".join(lines[:resent]))

    result = decode_capture(folder / "capture.bin", tmp_path / "decoded")

    assert not result.exact and "did not end cleanly" in result.note
    decoded, live = read_samples(result.folder), read_samples(live_folder)
    indices = [int(row["index"]) for row in decoded]
    assert indices[: 5 * BLOCK] == list(range(5 * BLOCK))
    assert indices[5 * BLOCK] == 6 * BLOCK  # the rows after the hole are written, in order
    _assert_rows_are_the_live_ones_or_counted_lost(result, decoded, live)
    ranges = read_meta(result.folder)["loss"]["lost_ranges"]
    hole = [r for r in ranges if r["from_index"] == 5 * BLOCK]
    assert hole and hole[0]["to_index"] == 6 * BLOCK
    assert "cut off" in hole[0]["why"]
