"""`anklet decode` against crafted captures: every value from the file is checked before it
is used, and a forged stream is refused block by block, never written as rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from anklet.capture import CaptureError, decode_capture
from anklet_protocol import framing, spec
from fuzzers import BLOCK, PERIOD_US, info_fields


def _info(**changes: object) -> bytes:
    return spec.Info.build(info_fields(**changes))


def _block(first: int, t0_us: int | None = None, n: int = BLOCK, flags: int = 0) -> tuple:
    t0 = (1_000_000 + first * PERIOD_US) % spec.TICKS_PERIOD_US if t0_us is None else t0_us
    payload = (
        spec.SamplesHeader.build(
            dict(first_index=first, t0_us=t0, period_us=PERIOD_US, imu_count=n, load_count=0)
        )
        + np.full((n, 6), 100, dtype="<i2").tobytes()
    )
    return spec.MsgType.SAMPLES, payload, flags


def _capture(path: Path, frames: list[tuple]) -> Path:
    with open(path, "wb") as f:
        for seq, (msg_type, payload, flags) in enumerate(frames):
            f.write(framing.cobs_wrap(framing.encode_frame(msg_type, payload, seq, flags)))
    return path


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "samples.csv") as f:
        return list(csv.DictReader(f))


def _good(count: int, start: int = 0) -> list[tuple]:
    return [_block(start + i * BLOCK) for i in range(count)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accel_fs_g", 0),
        ("gyro_fs_dps", 0),
        ("imu_rate_hz", 0),
        ("load_rate_hz", 0),
        ("load_scale", 0.0),
        ("load_scale", float("nan")),
        ("max_frame", 3),
    ],
)
def test_an_impossible_info_is_a_one_line_error_and_leaves_no_folder(tmp_path, field, value):
    capture = _capture(
        tmp_path / "c.bin", [(spec.MsgType.INFO, _info(**{field: value}), 0), *_good(40)]
    )
    with pytest.raises(CaptureError, match=field):
        decode_capture(capture, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_index_jump_of_2_to_the_31_is_refused_not_counted_as_lost(tmp_path):
    frames = [(spec.MsgType.INFO, _info(), 0), *_good(20)]
    frames.append(_block(20 * BLOCK + (1 << 31)))
    frames += _good(20, start=20 * BLOCK)
    result = decode_capture(_capture(tmp_path / "c.bin", frames), tmp_path / "out")
    assert result.accounting.lost == 0
    assert result.samples == 40 * BLOCK
    meta = json.loads((result.folder / "session.json").read_text())
    assert meta["loss"]["blocks_refused"] == 1
    assert "index jump" in meta["loss"]["refused_why"][0]


@pytest.mark.parametrize("t0", ["constant", "random"])
def test_forged_block_times_never_give_rows_equal_or_negative_times(tmp_path, t0):
    rng = np.random.default_rng(7)
    frames = [(spec.MsgType.INFO, _info(), 0), *_good(10)]
    for i in range(10, 40):
        stamp = 12345 if t0 == "constant" else int(rng.integers(0, spec.TICKS_PERIOD_US))
        frames.append(_block(i * BLOCK, t0_us=stamp))
    result = decode_capture(_capture(tmp_path / "c.bin", frames), tmp_path / "out")
    t_s = np.array([float(r["t_s"]) for r in _rows(result.folder)])
    assert len(t_s) == result.samples > 0
    assert t_s.min() >= 0.0
    assert np.all(np.diff(t_s) > 0)
    meta = json.loads((result.folder / "session.json").read_text())
    assert meta["loss"]["blocks_refused"] >= 29
    # The forged blocks are counted as refused, not written and not silently dropped.
    acct = result.accounting
    assert acct.received + acct.lost + acct.refused == acct.expected == 40 * BLOCK
    assert acct.completeness_pct < 100.0


def test_overlapping_blocks_do_not_stop_the_rows(tmp_path):
    frames = [(spec.MsgType.INFO, _info(), 0)]
    for i in range(200):
        if i % 20 == 5:
            frames.append(_block(i * BLOCK, n=10))  # a short forgery ahead of the real block
        frames.append(_block(i * BLOCK))
        if i % 3 == 0:
            frames.append(_block(i * BLOCK + 7))  # straddles this block and the next
    result = decode_capture(_capture(tmp_path / "c.bin", frames), tmp_path / "out")
    index = np.array([int(r["index"]) for r in _rows(result.folder)])
    acct = result.accounting
    assert len(index) == result.samples == acct.received
    assert result.samples >= 200 * BLOCK - 10 * 5  # at most the 5 the forgeries hid, each
    assert acct.received + acct.lost == 200 * BLOCK
    assert np.all(np.diff(index) > 0)
    assert index[-1] == 200 * BLOCK - 1


def test_blocks_no_board_sends_are_malformed(tmp_path):
    frames = [(spec.MsgType.INFO, _info(), 0), *_good(20)]
    bad_period = spec.SamplesHeader.build(
        dict(first_index=300, t0_us=5, period_us=0, imu_count=1, load_count=0)
    ) + bytes(12)
    empty = spec.SamplesHeader.build(
        dict(first_index=300, t0_us=5, period_us=PERIOD_US, imu_count=0, load_count=0)
    )
    late_t0 = spec.SamplesHeader.build(
        dict(first_index=300, t0_us=1 << 31, period_us=PERIOD_US, imu_count=1, load_count=0)
    ) + bytes(12)
    wrap = spec.SamplesHeader.build(
        dict(first_index=(1 << 32) - 1, t0_us=5, period_us=PERIOD_US, imu_count=2, load_count=0)
    ) + bytes(24)
    for payload in (bad_period, empty, late_t0, wrap):
        frames.append((spec.MsgType.SAMPLES, payload, 0))
    result = decode_capture(_capture(tmp_path / "c.bin", frames), tmp_path / "out")
    assert result.stats.malformed_payload == 4
    assert result.samples == 20 * BLOCK


def test_decoder_fuzz_crc_valid_frames_of_every_type_never_escape():
    from fuzzers import fuzz_decoder

    tried, escapes = fuzz_decoder(seed=13, cases=3000)
    assert tried == 3000
    assert escapes == []


def test_decode_fuzz_forged_captures_never_escape(tmp_path):
    from fuzzers import fuzz_decode

    tried, escapes = fuzz_decode(tmp_path, seed=13, cases=60)
    assert tried == 60
    assert escapes == []


@pytest.mark.parametrize("field", ["accel_fs_g", "gyro_fs_dps", "imu_rate_hz"])
def test_anklet_decode_of_an_impossible_info_is_one_line_not_a_traceback(tmp_path, field):
    from anklet.cli import _load_commands, app
    from clihelpers import assert_one_line_error
    from typer.testing import CliRunner

    _load_commands()
    capture = _capture(
        tmp_path / "c.bin", [(spec.MsgType.INFO, _info(**{field: 0}), 0), *_good(40)]
    )
    result = CliRunner().invoke(app, ["decode", str(capture), "--out", str(tmp_path / "out")])
    assert_one_line_error(result, field, "unusable")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _resend_reply(from_index: int, next_index: int) -> tuple:
    reply = spec.ResendReply.build(
        dict(from_index=from_index, oldest_index=0, next_index=next_index)
    )
    body = dict(request_id=7, opcode=spec.Opcode.RESEND, status=spec.StatusCode.OK, payload=reply)
    return spec.MsgType.REPLY, spec.Reply.build(body), 0


def test_a_tail_the_board_announced_but_never_sent_is_lost_in_a_bare_capture(tmp_path):
    # The live session's last RESEND asked for the stream's tail; the board answered that it
    # had made 72 samples more, and the session ended before they came. Bytes alone (no
    # timeline) must count them lost too, as the live session did.
    frames = [
        (spec.MsgType.INFO, _info(), 0),
        *_good(20),
        _resend_reply(20 * BLOCK, 20 * BLOCK + 72),
    ]
    result = decode_capture(_capture(tmp_path / "c.bin", frames), tmp_path / "out")
    acct = result.accounting
    assert acct.received == result.samples == 20 * BLOCK
    assert acct.lost == 72
    assert acct.expected == 20 * BLOCK + 72
