"""Whole sessions over BLE: the recorder on the simulated board behind the simulated radio
(bleak → bumble → the firmware's BLE link), through drops and a silent board."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from anklet.device import CommandTimeout, Device
from anklet.recorder import SessionRecorder
from anklet.transport.ble import BleTransport
from anklet_sim.ble_board import SimulatedBleBoard
from simhelpers import QUIET_MOTION, read_meta, read_samples

pytestmark = pytest.mark.timeout(240)


async def _record(tmp_path: Path, seconds: float, rate_hz: int, during=None):
    async with SimulatedBleBoard(tmp_path / "flash", motion=QUIET_MOTION) as sim:
        device = Device(BleTransport(None, pair=True, central=sim.central()))
        recorder = SessionRecorder(device, tmp_path / "out", imu_rate_hz=rate_hz)
        task = asyncio.create_task(recorder.run(seconds))
        if during is not None:
            await during(sim)
        summary = await task
        await device.close()
        return summary, sim.radio.stats


@pytest.mark.parametrize("rate_hz", [200, 1000])
def test_sixty_second_ble_session_is_lossless(tmp_path, rate_hz):
    summary, radio = asyncio.run(_record(tmp_path, 60.0, rate_hz))
    assert radio.encryptions >= 1  # the samples came over the bonded, encrypted link
    rows = read_samples(summary.folder)
    index = np.array([int(r["index"]) for r in rows])
    assert summary.lost == 0
    assert summary.completeness_pct == 100.0
    assert np.array_equal(index, np.arange(index[0], index[0] + len(index)))
    assert len(rows) >= 55 * rate_hz
    meta = read_meta(summary.folder)
    assert meta["transport"].startswith("ble:")


def test_ble_drop_mid_set_reconnects_and_refills(tmp_path):
    async def drop(sim: SimulatedBleBoard) -> None:
        await asyncio.sleep(6)
        sim.radio.drop_connection()

    summary, _ = asyncio.run(_record(tmp_path, 16.0, 1000, during=drop))
    index = np.array([int(r["index"]) for r in read_samples(summary.folder)])
    assert summary.reconnects >= 1
    assert summary.refilled > 0
    assert summary.lost == 0
    assert np.array_equal(index, np.arange(index[0], index[0] + len(index)))


def test_a_board_that_stops_answering_gives_a_clear_timeout(tmp_path):
    async def go() -> str:
        async with SimulatedBleBoard(tmp_path / "flash", motion=QUIET_MOTION) as sim:
            device = Device(
                BleTransport(None, pair=True, central=sim.central()), command_timeout_s=1.0
            )
            await device.open()
            await device.get_info()
            await device.start()
            assert sim.board is not None
            sim.board.set_faults(stall_ms=4000)  # the firmware freezes in an I2C transfer
            await asyncio.sleep(0.5)
            with pytest.raises(CommandTimeout) as caught:
                await device.get_status()
            await device.close()
            return str(caught.value)

    message = asyncio.run(go())
    assert "did not answer get_status within 1.0 s" in message
