"""A board whose BLE controller does not come up (ble.active(True) raises) still works over
its USB serial port: the simulated board with no controller behind MICROPYBTUART."""

from __future__ import annotations

import asyncio
from pathlib import Path

from anklet_sim.board import SimulatedBoard
from simhelpers import device_on


def test_board_without_a_working_radio_still_answers_and_streams_over_serial(
    tmp_path: Path,
) -> None:
    board = SimulatedBoard(
        flash_dir=tmp_path / "flash",
        motion="still",
        radio_boot=lambda: str(tmp_path / "no-such-controller"),
    )
    blocks: list[object] = []

    async def body() -> None:
        async with device_on(board) as device:
            device.on_samples = blocks.append
            info = await device.wait_ready(20)
            assert info.name.startswith("Anklet-")
            await device.start()
            while len(blocks) < 5:
                await asyncio.sleep(0.05)
            await device.stop()

    board.start()
    try:
        asyncio.run(asyncio.wait_for(body(), 60))
    finally:
        board.stop()
    assert len(blocks) >= 5
