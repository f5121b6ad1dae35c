"""The simulated board with its radio: the firmware in MicroPython with the real `bluetooth`
module (NimBLE), its controller an ESP32-like bumble controller on a virtual link that the
host's centrals share. The controller, the link and the centrals' controllers run in a radio
process of the board's own, at its priority (radio_process.py); a central here is bumble's host
stack reaching its controller over HCI on a unix socket, as it would a USB dongle.

    async with SimulatedBleBoard(tmp / "flash") as sim:
        central = sim.central()                           # a bumble central on the board's air
        async with BleTransport("Anklet-FFEE", central=central) as link: ...
        sim.radio.drop_connection()                       # out of range
        await sim.power_cycle()                           # reboot; bonds stay on its flash

The serial port (a pty, `sim.board.port`) works alongside, as on the real board.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from typing import Any

from anklet.ble.bumble_backend import BumbleCentral
from bumble import hci
from bumble.device import Connection, Device
from bumble.keys import KeyStore
from bumble.transport import open_transport
from bumble.transport.common import Transport

from .board import HARD_RESET, SimulatedBoard
from .radio import RadioTiming
from .radio_process import RadioProcess


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
        address = ":".join(unique_id[i : i + 2] for i in range(0, 12, 2)).upper()
        # The radio's errors go with the board's (SimulatedBoard.log_file).
        log_file = board_args.get("log_path") or self.flash_dir.with_name(
            f"{self.flash_dir.name}.log"
        )
        self.radio = RadioProcess(
            self.flash_dir.parent / f".{self.flash_dir.name}.hci",
            address,
            timing=timing,
            log_file=Path(log_file),
        )
        self._sim_options = dict(sim_options or {})
        self._board_args = {**board_args, "unique_id": unique_id}
        self.board: SimulatedBoard | None = None
        self._centrals: list[BumbleCentral] = []

    async def __aenter__(self) -> SimulatedBleBoard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 60.0) -> None:
        """Power on and wait until the board advertises."""
        # The radio process imports bumble (~0.4 s) while the launcher starts; the launcher's
        # first boot waits for its controller (radio_boot, answered from board.py's thread).
        self.radio.start()
        self.board = SimulatedBoard(
            self.flash_dir,
            sim_options=self._sim_options,
            radio_boot=self.radio.boot,
            **self._board_args,
        )
        try:
            await asyncio.to_thread(self.board.start)
            await self.radio.wait_advertising(timeout)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for central in self._centrals:
            with contextlib.suppress(Exception):
                await central.close()
        self._centrals.clear()
        if self.board is not None:
            await asyncio.to_thread(self.board.stop)
        await asyncio.to_thread(self.radio.stop)

    def central(
        self,
        *,
        keystore: KeyStore | None = None,
        address: str | None = None,
        private: bool = False,
    ) -> BumbleCentral:
        """A host-side bumble central on this board's virtual link (closed with the board).
        Its controller, in the radio process, is made when the central first powers on.

        `private`: it connects from resolvable private addresses, as phones and computers do
        (its identity is a random static address; `new_private_address()` picks the next)."""
        n = len(self._centrals) + 1
        address = address or f"F0:F0:F0:F0:F0:{n:02X}"
        radio = self.radio

        async def open_hci() -> Transport:
            return await open_transport(await radio.open_central(address))

        central = BumbleCentral.over_hci(open_hci, address, keystore=keystore)
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
