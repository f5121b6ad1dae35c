"""Device.wait_ready: a board that is still booting is waited for; a missing one is not."""

from __future__ import annotations

import asyncio

import pytest
from anklet.device import CommandTimeout, Device
from anklet.transport import TransportError
from anklet.transport.serial import SerialTransport
from anklet_sim.board import SimulatedBoard
from simhelpers import COMMAND_TIMEOUT_S, QUIET_MOTION


def test_a_board_still_booting_is_waited_for(tmp_path):
    # The board takes 3 s from power-on to main.py, as a real one resets when its port opens
    # and then boots MicroPython and imports the firmware: nothing answers until then.
    board = SimulatedBoard(
        flash_dir=tmp_path / "flash", motion=QUIET_MOTION, sim_options={"boot_ms": 3000}
    )

    async def go() -> str:
        device = Device(SerialTransport(board.port), command_timeout_s=0.5)
        await device.open()
        with pytest.raises(CommandTimeout):  # one plain try is too early ...
            await device.get_info()
        device.command_timeout_s = COMMAND_TIMEOUT_S  # (each try's wait, on a busy machine)
        info = await device.wait_ready()  # ... waiting for the boot is not
        await device.close()
        return info.firmware

    with board:
        firmware = asyncio.run(go())
    assert firmware.count(".") == 2
    assert len(board.boots) == 1  # answered by the same boot: no reset was needed


def test_a_missing_port_fails_at_once_without_retrying():
    device = Device(SerialTransport("/dev/ttyNOPE7"))
    with pytest.raises(TransportError, match="no such port /dev/ttyNOPE7"):
        asyncio.run(device.wait_ready(timeout_s=3600))
