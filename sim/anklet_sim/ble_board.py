"""The simulated board with its radio: the firmware in MicroPython, its BLE controller a bumble
peripheral on a virtual link that the host's central shares, in this asyncio loop.

    async with SimulatedBleBoard(tmp / "flash") as sim:
        central = sim.central()                           # a bumble central on sim.link
        async with BleTransport("Anklet-FFEE", central=central) as link: ...
        sim.radio.drop_connection()                       # out of range
        await sim.power_cycle()                           # reboot; bonds stay on its flash

The serial port (a pty, `sim.board.port`) works alongside, as on the real board.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from anklet.ble.bumble_backend import BumbleCentral
from bumble.keys import KeyStore
from bumble.link import LocalLink

from .board import HARD_RESET, SimulatedBoard
from .radio import SimRadio


class SimulatedBleBoard:
    def __init__(
        self,
        flash_dir: Path | str,
        *,
        interval_ms: float = 30.0,
        notifications_per_event: int = 4,
        tx_buffers: int = 12,
        sim_options: dict[str, Any] | None = None,
        **board_args: Any,
    ) -> None:
        self.flash_dir = Path(flash_dir)
        self.link = LocalLink()
        self.radio = SimRadio(
            self.link,
            interval_ms=interval_ms,
            notifications_per_event=notifications_per_event,
            tx_buffers=tx_buffers,
        )
        self._sim_options = dict(sim_options or {})
        self._board_args = board_args
        self.board: SimulatedBoard | None = None
        self._centrals: list[BumbleCentral] = []

    async def __aenter__(self) -> SimulatedBleBoard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 15.0) -> None:
        """Power on and wait until the board advertises."""
        host, port = await self.radio.start()
        options = {**self._sim_options, "ble": {"host": host, "port": port}}
        self.board = SimulatedBoard(self.flash_dir, sim_options=options, **self._board_args)
        await asyncio.to_thread(self.board.start)
        await self.radio.wait_advertising(timeout)

    async def stop(self) -> None:
        for central in self._centrals:
            await central.close()
        self._centrals.clear()
        if self.board is not None:
            await asyncio.to_thread(self.board.stop)
        await self.radio.stop()

    def central(
        self, *, keystore: KeyStore | None = None, address: str | None = None
    ) -> BumbleCentral:
        """A host-side bumble central on this board's virtual link (closed with the board)."""
        n = len(self._centrals) + 1
        central = BumbleCentral.on_link(
            self.link, address or f"F0:F0:F0:F0:F0:{n:02X}", keystore=keystore
        )
        self._centrals.append(central)
        return central

    async def power_cycle(self, cause: int = HARD_RESET, timeout: float = 15.0) -> None:
        """Reset the board (a new boot, same flash) and wait until it advertises again."""
        assert self.board is not None
        boots = self.radio.stats.boots
        await asyncio.to_thread(self.board.power_cycle, cause)
        async with asyncio.timeout(timeout):
            while self.radio.stats.boots == boots:
                await asyncio.sleep(0.02)
        await self.radio.wait_advertising(timeout)
