"""Where a session's stream begins: the board's START reply says it (protocol 1.2), and the host
expects every sample from there on. No MicroPython: `Device` against a scripted board on a fake
link, `SessionLog` fed the blocks of a recorded capture (tests/fixtures/sim_capture_200hz.bin:
600 IMU samples in 50 SAMPLES frames from the simulated board).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from anklet.csvlog import SessionFolder
from anklet.device import Device, DeviceError, DeviceInfo
from anklet.session import SessionLog
from anklet_protocol import StreamDecoder, layout, parse_message, spec, vectors
from anklet_protocol.decoder import SampleBlock
from fake_transport import FakeTransport, ScriptedBoard

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_capture_200hz.bin"
STARTED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _capture() -> tuple[DeviceInfo, list[SampleBlock]]:
    info = None
    blocks = []
    for frame in StreamDecoder().feed(CAPTURE.read_bytes()):
        message = parse_message(frame)
        if isinstance(message, SampleBlock):
            blocks.append(message)
        elif frame.msg_type == spec.MsgType.REPLY and message.opcode == spec.Opcode.GET_INFO:
            info = DeviceInfo.from_message(spec.Info.parse(message.payload))
    assert info is not None and sum(b.imu_count for b in blocks) == 600
    return info, blocks


INFO, BLOCKS = _capture()
FIRST = BLOCKS[0]


def _resent(block: SampleBlock) -> SampleBlock:
    return dataclasses.replace(block, flags=block.flags | spec.FrameFlag.RESENT)


# --- Device.start() --------------------------------------------------------------------------


def _start(answer: bytes | None) -> int | None:
    """Device.start() against a board that answers START OK with `answer` (None: default)."""

    async def go():
        link = FakeTransport()
        board = ScriptedBoard(link, info=vectors._info("Anklet-C0FFEE"))
        if answer is not None:
            board.handlers[spec.Opcode.START] = lambda c: (spec.StatusCode.OK, answer)
        async with Device(link) as device:
            return await device.start()

    return asyncio.run(go())


def test_start_returns_the_first_index_the_board_answers():
    assert _start(spec.StartReply.build({"first_index": 123_456})) == 123_456
    assert _start(spec.StartReply.build({"first_index": 0})) == 0  # a first session after boot


def test_start_on_a_board_older_than_1_2_returns_none():
    # Its START reply is empty (the golden vector of a 1.1 board), as ScriptedBoard's default.
    old = next(v for v in vectors.build_vectors() if v["name"] == "reply_start_from_board_1_1")
    assert old["fields"]["payload"] == {"hex": ""}
    assert _start(b"") is None
    assert _start(None) is None


def test_start_ignores_a_newer_boards_extra_reply_field():
    assert _start(spec.StartReply.build({"first_index": 77}) + vectors.NEWER_FIELD) == 77


def test_a_start_reply_ending_inside_first_index_is_a_one_line_device_error():
    with pytest.raises(DeviceError) as failure:
        _start(b"\x01\x02")
    assert "answered start with a malformed reply (2 bytes" in str(failure.value)
    assert "\n" not in str(failure.value)


# --- SessionLog: the stream's start ----------------------------------------------------------


def _record(tmp_path: Path, blocks: list[SampleBlock], first_index: int | None, refill=()):
    """Feed `blocks` live, START having answered `first_index`; the holes the session asks for
    are answered with the re-sent blocks in `refill`. Returns (accounting, rows, session.json)."""
    folder = SessionFolder.create(tmp_path, INFO.name, STARTED)
    log = SessionLog(folder, INFO, STARTED, start_host_s=0.0)
    log.new_boot(0.0, 0.0)
    log.stream_starts_at(first_index)
    asked = []
    now = 0.0
    for block in blocks:
        now += 0.06
        log.add_block(block, now)
        for hole in log.holes_to_request(now):
            asked.append(hole.start)
            for resent in refill:
                log.add_block(_resent(resent), now)
        log.write_ready(now)
    accounting = log.finish(now + 10.0)
    meta = log.meta(True, now, "test", {})
    folder.close()
    with open(folder.path / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return accounting, rows, meta, asked


def _imu(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([[float(r[c]) for c in layout.IMU_CSV_COLUMNS] for r in rows])


def test_a_first_block_lost_on_the_link_is_asked_for_and_refilled(tmp_path):
    accounting, rows, _, asked = _record(tmp_path, BLOCKS[1:], FIRST.first_index, [FIRST])
    _, full, _, _ = _record(tmp_path / "full", BLOCKS, FIRST.first_index)
    assert asked[0] == FIRST.first_index  # RESEND from the board's first index
    assert accounting.expected == accounting.received == 600
    assert (accounting.refilled, accounting.lost) == (FIRST.imu_count, 0)
    assert [int(r["index"]) for r in rows] == list(range(600))
    np.testing.assert_array_equal(_imu(rows), _imu(full))


def test_a_first_block_the_board_cannot_resend_is_counted_lost_from_index_0(tmp_path):
    accounting, rows, meta, asked = _record(tmp_path, BLOCKS[1:], FIRST.first_index)
    assert asked[0] == FIRST.first_index
    assert accounting.expected == 600  # from the board's first index, not the first block seen
    assert (accounting.received, accounting.lost) == (600 - FIRST.imu_count, FIRST.imu_count)
    assert meta["loss"]["lost_ranges"] == [
        {
            "from_index": 0,
            "to_index": FIRST.imu_count,
            "why": "session ended before the board re-sent them",
        }
    ]
    assert int(rows[0]["index"]) == FIRST.imu_count


def test_blocks_before_the_boards_first_index_are_an_earlier_streams(tmp_path):
    start = BLOCKS[10]
    accounting, rows, meta, _ = _record(tmp_path, BLOCKS, start.first_index)
    earlier = start.first_index - FIRST.first_index
    assert accounting.expected == accounting.received == 600 - earlier
    assert accounting.lost == 0
    assert meta["loss"]["samples_before_start"] == earlier
    assert int(rows[0]["index"]) == 0
    _, full, _, _ = _record(tmp_path / "full", BLOCKS, FIRST.first_index)
    np.testing.assert_array_equal(_imu(rows), _imu(full[earlier:]))


def test_an_older_board_starts_where_two_blocks_agree(tmp_path):
    # No first index from the board (protocol 1.1): today's rule, the stream's own first
    # blocks; a first block lost on the link is then not known to be missing.
    accounting, rows, _, asked = _record(tmp_path, BLOCKS[1:], None)
    assert asked == []
    assert accounting.expected == accounting.received == 600 - FIRST.imu_count
    assert int(rows[0]["index"]) == 0
    _, full, _, _ = _record(tmp_path / "full", BLOCKS, None)
    np.testing.assert_array_equal(_imu(rows), _imu(full[FIRST.imu_count :]))


def test_a_damaged_first_block_cannot_set_the_time_line_when_the_start_is_known(tmp_path):
    # CRC-valid but wrong: the board's first index, stamped a second late. The next block
    # disagrees with it, so it is refused; the real first block is asked for and refilled.
    forged = dataclasses.replace(FIRST, t0_us=(FIRST.t0_us + 1_000_000) % spec.TICKS_PERIOD_US)
    accounting, rows, meta, asked = _record(
        tmp_path, [forged, *BLOCKS[1:]], FIRST.first_index, [FIRST]
    )
    # The same session without the forged block: the same rows, to the microsecond.
    _, clean, _, _ = _record(tmp_path / "clean", BLOCKS[1:], FIRST.first_index, [FIRST])
    assert asked[0] == FIRST.first_index
    assert accounting.refused == FIRST.imu_count
    assert (accounting.received, accounting.lost) == (600, 0)
    assert rows == clean
    assert meta["loss"]["refused_why"] == [
        f"block at index {FIRST.first_index}: disagrees with the next one"
    ]


def test_a_start_that_resumes_a_stream_does_not_move_its_start(tmp_path):
    folder = SessionFolder.create(tmp_path, INFO.name, STARTED)
    log = SessionLog(folder, INFO, STARTED, start_host_s=0.0)
    log.new_boot(0.0, 0.0)
    log.stream_starts_at(FIRST.first_index)
    for n, block in enumerate(BLOCKS[:20]):
        log.add_block(block, n * 0.06)
    log.stream_starts_at(BLOCKS[30].first_index)  # a reconnect's START: the board streams on
    for n, block in enumerate(BLOCKS[20:], start=20):
        log.add_block(block, n * 0.06)
    accounting = log.finish(10.0)
    folder.close()
    assert accounting.expected == accounting.received == 600
