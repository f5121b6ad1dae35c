"""The `sim` and `sim:ble` device schemes: how `anklet` opens a simulated board.

Registered through the `anklet.device_schemes` entry points (pyproject.toml), so that the host
library finds the simulator without importing it:

    anklet log --device sim          # the simulated board on a pseudo-terminal
    anklet log --device sim:ble      # the same board behind its simulated radio
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from anklet.connect import DEFAULT_SIM_MOTION, default_sim_flash, motion_spec
from anklet.deploy import Target
from anklet.device import Device
from anklet.schemes import OpenOptions
from anklet.transport import TransportError
from anklet.transport.serial import SerialTransport

from .board import SimulatedBoard


def _board(options: OpenOptions) -> SimulatedBoard:
    try:
        return SimulatedBoard(
            flash_dir=options.sim_flash or default_sim_flash(),
            motion=motion_spec(options.sim_motion or DEFAULT_SIM_MOTION),
            sim_options=dict(options.sim_options),
            fast=options.sim_fast,
        )
    except ValueError as exc:  # a bad --motion: the simulator says which key and why
        raise TransportError(str(exc)) from None


class _SimulatedBoardScheme:
    """What both schemes share: a board of their own for `anklet sim` and `anklet deploy`."""

    @contextlib.contextmanager
    def serve(self, options: OpenOptions) -> Iterator[list[str]]:
        with _board(options) as board:
            yield [
                f"simulated board running: serial port {board.port}",
                f"  connect with: anklet log --device serial:{board.port}",
                f"  flash directory: {board.flash_dir}",
            ]

    @contextlib.contextmanager
    def deploy_target(self, options: OpenOptions) -> Iterator[Target]:
        # Firmware goes in over the board's serial REPL, as on a real board.
        with SimulatedBoard(flash_dir=options.sim_flash or default_sim_flash()) as board:
            yield Target(board.port, f"sim:{board.flash_dir}", power_cycle=board.power_cycle)


class SerialSimScheme(_SimulatedBoardScheme):
    name = "sim"
    usage = "sim"

    def matches(self, dev: str) -> bool:
        return dev == "sim"

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: OpenOptions) -> AsyncIterator[Device]:
        with _board(options) as board:
            device = Device(SerialTransport(board.port), options.command_timeout_s)
            device.sim = board  # type: ignore[attr-defined]
            try:
                yield device
            finally:
                await device.close()


class BleSimScheme(_SimulatedBoardScheme):
    name = "sim:ble"
    usage = "sim:ble"

    @contextlib.contextmanager
    def deploy_target(self, options: OpenOptions) -> Iterator[Target]:
        # As on a real board, files go in over serial, never over the radio.
        raise TransportError(
            "deploy writes files over a serial link: use --device sim for the simulated board "
            "(sim:ble shares its flash folder)"
        )
        yield  # a generator, for contextmanager

    def matches(self, dev: str) -> bool:
        return dev == "sim:ble"

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: OpenOptions) -> AsyncIterator[Device]:
        from anklet.transport.ble import BleTransport

        from .ble_board import SimulatedBleBoard

        try:
            ble_board = SimulatedBleBoard(
                options.sim_flash or default_sim_flash(),
                motion=motion_spec(options.sim_motion or DEFAULT_SIM_MOTION),
                sim_options=dict(options.sim_options),
            )
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        async with ble_board as board:
            # Pairs on first connect: the board refuses commands on an unencrypted link.
            transport = BleTransport(None, pair=True, central=board.central())
            device = Device(transport, options.command_timeout_s)
            device.sim = board  # type: ignore[attr-defined]
            try:
                yield device
            finally:
                await device.close()


SIM = SerialSimScheme()
SIM_BLE = BleSimScheme()
