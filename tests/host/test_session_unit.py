"""The decoder → SessionLog path on a recorded capture, through a fake link: no MicroPython.

The capture (tests/fixtures/sim_capture_200hz.bin) is the simulated board's real output: 600
IMU samples in 50 SAMPLES frames. Blocks reach the session through `Device.on_samples` as they
do live, then in other orders, duplicated, or with one missing.
"""

from __future__ import annotations

import asyncio
import csv
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from anklet.csvlog import SessionFolder
from anklet.device import Device, DeviceInfo
from anklet.session import GRAVITY, SessionLog
from anklet_protocol import StreamDecoder, layout, parse_message, spec
from anklet_protocol.decoder import SampleBlock
from fake_transport import FakeTransport, ScriptedBoard

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_capture_200hz.bin"
STARTED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _capture_info_payload() -> bytes:
    for frame in StreamDecoder().feed(CAPTURE.read_bytes()):
        if frame.msg_type == spec.MsgType.REPLY:
            reply = parse_message(frame)
            if reply.opcode == spec.Opcode.GET_INFO:
                return bytes(reply.payload)
    raise AssertionError("the capture holds no GET_INFO reply")


def _blocks_via_device() -> tuple[DeviceInfo, list[SampleBlock]]:
    """The capture's INFO and SAMPLES as a host receives them from the link."""

    async def go():
        link = FakeTransport()
        board = ScriptedBoard(link, info={}, info_payload=_capture_info_payload())
        blocks: list[SampleBlock] = []
        all_in = asyncio.Event()

        def on_samples(block: SampleBlock) -> None:
            blocks.append(block)
            if sum(b.imu_count for b in blocks) >= 600:
                all_in.set()

        async with Device(link) as device:
            info = await device.get_info()
            device.on_samples = on_samples
            board.replay(CAPTURE.read_bytes(), chunk=97)
            await asyncio.wait_for(all_in.wait(), 10)  # a guard against hanging only
        return info, blocks

    return asyncio.run(go())


INFO, BLOCKS = _blocks_via_device()


def _record(tmp_path: Path, blocks: list[SampleBlock]):
    folder = SessionFolder.create(tmp_path, INFO.name, STARTED)
    log = SessionLog(folder, INFO, STARTED, start_host_s=0.0)
    log.new_boot(0.0, 0.0)
    for n, block in enumerate(blocks):
        log.add_block(block, now_s=n * 0.06)
        log.write_ready(now_s=n * 0.06)
    accounting = log.finish(now_s=1e6)
    folder.close()
    with open(folder.path / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return accounting, rows


def _expected_si(blocks: list[SampleBlock]) -> np.ndarray:
    raw = np.concatenate([b.imu for b in sorted(blocks, key=lambda b: b.first_index)])
    si = raw.astype(np.float64)
    si[:, layout.ACCEL] *= GRAVITY / INFO.accel_lsb_per_g
    si[:, layout.GYRO] /= INFO.gyro_lsb_per_dps
    return si


def _imu_columns(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([[float(r[c]) for c in layout.IMU_CSV_COLUMNS] for r in rows])


def test_the_capture_comes_from_a_1_1_board_with_its_newer_info_fields():
    assert INFO.protocol == "1.1"
    assert INFO.imu_rate_hz == 200
    assert INFO.resend_window_ms > 0  # the firmware fills the field added in 1.1


def test_every_sample_of_the_capture_is_written_once_in_si_units(tmp_path):
    accounting, rows = _record(tmp_path, BLOCKS)
    assert [int(r["index"]) for r in rows] == list(range(600))
    assert (accounting.expected, accounting.received, accounting.lost) == (600, 600, 0)
    np.testing.assert_allclose(_imu_columns(rows), _expected_si(BLOCKS), atol=6e-4)
    t_s = np.array([float(r["t_s"]) for r in rows])
    assert np.all(np.diff(t_s) > 0)


def test_blocks_out_of_order_and_repeated_give_the_same_rows(tmp_path):
    # The stream starts as the board sends it (its first blocks set where the session begins);
    # after that, blocks come in any order and re-sent copies come again.
    rest = list(BLOCKS[2:]) + random.Random(7).sample(BLOCKS, 10)  # 10 re-sent copies
    random.Random(8).shuffle(rest)
    shuffled = [*BLOCKS[:2], *rest]
    _, in_order = _record(tmp_path / "a", BLOCKS)
    accounting, rows = _record(tmp_path / "b", shuffled)
    assert [r["index"] for r in rows] == [r["index"] for r in in_order]
    np.testing.assert_array_equal(_imu_columns(rows), _imu_columns(in_order))
    assert accounting.lost == 0 and accounting.received == 600


@pytest.mark.parametrize("missing", [2, 10])
def test_a_block_that_never_arrives_is_counted_lost_with_its_range(tmp_path, missing):
    gone = BLOCKS[missing]
    accounting, rows = _record(tmp_path, BLOCKS[:missing] + BLOCKS[missing + 1 :])
    written = [int(r["index"]) for r in rows]
    assert written == [i for i in range(600) if not gone.first_index <= i < gone.end_index]
    assert (accounting.expected, accounting.received) == (600, 600 - gone.imu_count)
    assert accounting.lost == gone.imu_count
    assert [(r["from_index"], r["to_index"]) for r in accounting.lost_ranges] == [
        (gone.first_index, gone.end_index)
    ]


def test_a_row_after_a_gap_in_the_load_stream_has_no_force_rather_than_one_from_before(tmp_path):
    # Five blocks (300 ms, IMU and load samples alike) never arrive. The first rows after the
    # gap come before the next load sample: their force is unknown. It used to be the last
    # value from before the gap, held across it (a replay cut off by a crash held one 2 s).
    _, full = _record(tmp_path / "full", BLOCKS)
    _, gapped = _record(tmp_path / "gapped", BLOCKS[:10] + BLOCKS[15:])
    after = BLOCKS[15]
    first_load_index = int(after.load["index"][0])
    with open(next((tmp_path / "gapped").glob("*/force.csv")), newline="") as f:
        load_t = {int(r["index"]): float(r["t_s"]) for r in csv.DictReader(f)}
    rows_after = [r for r in gapped if after.first_index <= int(r["index"]) < after.end_index]
    before_load = [r for r in rows_after if float(r["t_s"]) < load_t[first_load_index]]
    assert before_load, "the block's first load sample comes after its first row"
    assert all(r["force_n"] == "" for r in before_load)
    # Elsewhere the force is the one the whole capture gives the row. The clock, fitted
    # without the gap's blocks, puts rows some tens of µs away; the force does not follow it
    # (a row so moved fell the other side of a load sample when it did).
    full_t = {r["index"]: r["t_s"] for r in full}
    assert any(r["t_s"] != full_t[r["index"]] for r in gapped)  # the fit did move rows
    full_force = {r["index"]: r["force_n"] for r in full}
    assert [r for r in gapped if r["force_n"] not in ("", full_force[r["index"]])] == []
