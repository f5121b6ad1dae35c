"""Plyometrics through the whole chain: the simulated board's IMU (register-level, ±16 g, 400 Hz)
under the real firmware, the serial link, the host's session files, then the jump analysis."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from anklet.analysis import analyze_csv
from anklet.device import Device
from anklet.transport.serial import SerialTransport
from anklet_sim.board import MPY_DIR, SimulatedBoard
from simhelpers import record

pytestmark = pytest.mark.timeout(180)

MOTION = "jumps:series=1,jumps=6,flight=0.45,contact=0.25,impact=8,lead=2,seed=2"


def _truth() -> list[tuple[float, float]]:
    spec = importlib.util.spec_from_file_location("sim_motion", MPY_DIR / "motion.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.from_spec(MOTION).events()


def test_jumps_recorded_from_the_board_give_their_flight_and_contact_times(tmp_path):
    board = SimulatedBoard(flash_dir=tmp_path / "flash", motion=MOTION)

    async def set_up() -> None:
        device = Device(SerialTransport(board.port))
        await device.wait_ready()
        await device.set_rates(accel_fs_g=16)  # landings pass 8 g
        await device.close()

    with board:
        asyncio.run(set_up())
        summary = asyncio.run(record(board, tmp_path / "out", 10.0, 400))
    assert summary.lost == 0
    result = analyze_csv(summary.folder / "samples.csv")
    assert result.total_reps == 0
    (series,) = result.jump_series
    truth = _truth()
    assert series.jump_count == len(truth) == 6
    # The session clock starts when logging starts, not at the motion's t = 0: compare spans.
    for jump, (takeoff, landing) in zip(series.jumps, truth, strict=True):
        assert jump.flight_s == pytest.approx(landing - takeoff, abs=0.008)
    for jump, prev, now in zip(series.jumps[1:], truth, truth[1:], strict=False):
        assert jump.contact_s == pytest.approx(now[0] - prev[1], abs=0.008)
    assert max(j.landing_peak_g for j in series.jumps) > 8.0  # not clipped at ±8 g
