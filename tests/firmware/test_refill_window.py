"""How long a link may drop with every sample still refilled: the board's RAM ring, sized from
its free heap (firmware/ring.py), reported in INFO's resend_window_ms. A board with PSRAM (its
MicroPython heap is MBs) gives the ring its cap: the issue's 10 s at 1000 Hz and 60 s at 200 Hz.
A DevKitC (no PSRAM) cannot hold that in RAM (docs/INTEGRITY.md, "The refill window"); its
window is whatever its heap affords and is reported, not promised. Drops of that length,
actually survived, are bench figures (`python -m bench integrity`)."""

from __future__ import annotations

import asyncio

from anklet_sim.board import PSRAM_HEAP, SimulatedBoard
from simhelpers import QUIET_MOTION, device_on


async def _windows_ms(board: SimulatedBoard) -> dict[int, int]:
    device = device_on(board)
    await device.wait_ready()
    try:
        windows = {}
        for rate_hz in (200, 1000):
            await device.set_rates(imu_rate_hz=rate_hz)
            windows[rate_hz] = (await device.get_info()).resend_window_ms
        return windows
    finally:
        await device.close()


def test_a_board_with_psram_refills_10_s_at_1000_hz_and_60_s_at_200_hz(tmp_path):
    psram = SimulatedBoard(flash_dir=tmp_path / "flash", motion=QUIET_MOTION, heapsize=PSRAM_HEAP)
    with psram:
        windows = asyncio.run(_windows_ms(psram))
    assert windows[1000] >= 10_000
    assert windows[200] >= 60_000


def test_a_board_without_psram_reports_the_shorter_window_its_heap_affords(tmp_path):
    with SimulatedBoard(flash_dir=tmp_path / "flash", motion=QUIET_MOTION) as board:
        windows = asyncio.run(_windows_ms(board))
    assert 1_000 <= windows[1000] < 10_000
    assert windows[1000] < windows[200] < 60_000  # the same ring, at a fifth of the rate
