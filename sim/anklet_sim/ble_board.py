"""The simulated board with its radio: the firmware in MicroPython with the real `bluetooth`
module (NimBLE), its controller an ESP32-like bumble controller on a virtual link that the
host's centrals share, in this asyncio loop.

    async with SimulatedBleBoard(tmp / "flash") as sim:
        central = sim.central()                           # a bumble central on sim.link
        async with BleTransport("Anklet-FFEE", central=central) as link: ...
        sim.radio.drop_connection()                       # out of range
        await sim.power_cycle()                           # reboot; bonds stay on its flash

The serial port (a pty, `sim.board.port`) works alongside, as on the real board.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from anklet.ble.bumble_backend import BumbleCentral
from bumble import hci
from bumble.device import Connection, Device
from bumble.keys import KeyStore

from .board import HARD_RESET, SimulatedBoard
from .radio import BoardRadio, EspLink, RadioTiming


class SimulatedBleBoard:
    def __init__(
        self,
        flash_dir: Path | str,
        *,
        timing: RadioTiming | None = None,
        sim_options: dict[str, Any] | None = None,
        unique_id: str = "24a160c0ffee",
        **board_args: Any,
    ) -> None:
        self.flash_dir = Path(flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.link = EspLink()
        address = ":".join(unique_id[i : i + 2] for i in range(0, 12, 2)).upper()
        self.radio = BoardRadio(
            self.link, self.flash_dir.parent / f".{self.flash_dir.name}.hci", address, timing=timing
        )
        self._sim_options = dict(sim_options or {})
        self._board_args = {**board_args, "unique_id": unique_id}
        self.board: SimulatedBoard | None = None
        self._centrals: list[BumbleCentral] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> SimulatedBleBoard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _boot_radio(self) -> str:
        # Called from the launcher's threads (start, power cycle, watchdog reset).
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self.radio.boot(), self._loop).result(10)

    async def start(self, timeout: float = 60.0) -> None:
        """Power on and wait until the board advertises."""
        self._loop = asyncio.get_running_loop()
        self.board = SimulatedBoard(
            self.flash_dir,
            sim_options=self._sim_options,
            radio_boot=self._boot_radio,
            **self._board_args,
        )
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
        self,
        *,
        keystore: KeyStore | None = None,
        address: str | None = None,
        private: bool = False,
    ) -> BumbleCentral:
        """A host-side bumble central on this board's virtual link (closed with the board).

        `private`: it connects from resolvable private addresses, as phones and computers do
        (its identity is a random static address; `new_private_address()` picks the next)."""
        n = len(self._centrals) + 1
        central = BumbleCentral.on_link(
            self.link, address or f"F0:F0:F0:F0:F0:{n:02X}", keystore=keystore
        )
        if private:
            device = central.device
            device.static_address = hci.Address(
                f"D0:F0:F0:F0:F0:{n:02X}", hci.Address.RANDOM_DEVICE_ADDRESS
            )
            device.irk = secrets.token_bytes(16)
            device.le_privacy_enabled = True
        self._centrals.append(central)
        return central

    async def power_cycle(self, cause: int = HARD_RESET, timeout: float = 60.0) -> None:
        """Reset the board (a new boot, same flash) and wait until it advertises again."""
        assert self.board is not None
        boots = self.radio.stats.boots
        await asyncio.to_thread(self.board.power_cycle, cause)
        assert self.radio.stats.boots > boots
        await self.radio.wait_advertising(timeout)


async def new_private_address(central: BumbleCentral) -> hci.Address:
    """Give a private central its next resolvable private address (as a phone rotates it)."""
    device = central.device
    address = hci.Address.generate_private_address(device.irk)
    await device.send_sync_command(hci.HCI_LE_Set_Random_Address_Command(random_address=address))
    device.random_address = address
    return address


def watch_pairings(central: BumbleCentral) -> list[hci.Address]:
    """The peer of every pairing `central` completes from now on (a bond reused is none)."""
    pairings: list[hci.Address] = []

    def on_connection(connection: Connection) -> None:
        connection.on(Connection.EVENT_PAIRING, lambda *_: pairings.append(connection.peer_address))

    central.device.on(Device.EVENT_CONNECTION, on_connection)
    return pairings
