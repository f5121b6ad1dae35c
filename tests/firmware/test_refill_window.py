"""How long a link may drop with every sample still refilled, as INFO's resend_window_ms reports
it: the board's RAM ring, sized from its free heap (firmware/ring.py), and the erased part of its
flash ring (the `ankring` partition `anklet flash` makes; firmware/spill.py). A DevKitC (no
PSRAM) cannot hold 10 s at 1000 Hz or 60 s at 200 Hz in RAM (docs/INTEGRITY.md, "The refill
window"); with the flash ring it reaches both. A board with PSRAM reaches them in RAM alone.
Drops of that length, actually survived, are bench figures (`python -m bench integrity`)."""

from __future__ import annotations

import asyncio

from anklet_sim.board import SimulatedBoard
from simhelpers import QUIET_MOTION, device_on


async def _windows_ms(board: SimulatedBoard, flash_sectors: int = 0) -> dict[int, int]:
    device = device_on(board)
    await device.wait_ready()
    try:
        # The flash counts once erased: at boot the board checks each sector while idle.
        await device.set_rates(imu_rate_hz=1000)
        while (await device.get_info()).resend_window_ms < _flash_ms(flash_sectors):
            await asyncio.sleep(0.1)
        windows = {}
        for rate_hz in (200, 1000):
            await device.set_rates(imu_rate_hz=rate_hz)
            windows[rate_hz] = (await device.get_info()).resend_window_ms
        return windows
    finally:
        await device.close()


def test_a_board_with_psram_refills_10_s_at_1000_hz_and_60_s_at_200_hz(tmp_path):
    psram = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion=QUIET_MOTION,
        sim_options={"psram": 1, "flash_ring_kb": 0},  # RAM alone reaches both
    )
    with psram:
        windows = asyncio.run(_windows_ms(psram))
    assert windows[1000] >= 10_000
    assert windows[200] >= 60_000


def _flash_ms(sectors: int) -> int:
    """At least what `sectors` of flash hold at 1000 Hz (16 slots each, 15 samples a block)."""
    return sectors * 16 * 15


def test_a_devkitc_with_the_flash_ring_refills_10_s_at_1000_hz_and_60_s_at_200_hz(tmp_path):
    with SimulatedBoard(flash_dir=tmp_path / "flash", motion=QUIET_MOTION) as board:
        windows = asyncio.run(_windows_ms(board, flash_sectors=128))
    assert windows[1000] >= 10_000
    assert windows[200] >= 60_000


def test_a_board_without_the_flash_ring_reports_the_shorter_window_its_heap_affords(tmp_path):
    plain = {"flash_ring_kb": 0}  # flashed with plain esptool or Thonny: no ankring partition
    with SimulatedBoard(
        flash_dir=tmp_path / "flash", motion=QUIET_MOTION, sim_options=plain
    ) as board:
        windows = asyncio.run(_windows_ms(board))
    # About 1 s (docs/INTEGRITY.md). Each 15 ms at 1000 Hz is one ~200-byte slot of what the
    # heap leaves, which the firmware's own code and the interpreter's search path (it differs
    # between checkouts) move by a slot or two: 990 to 1050 ms in this test's runs so far. So
    # the floor is three quarters of that second: a little new firmware code or a longer path
    # do not fail it, a ring that lost a quarter of its heap does.
    assert 750 <= windows[1000] < 10_000
    assert windows[1000] < windows[200] < 60_000  # the same ring, at a fifth of the rate
