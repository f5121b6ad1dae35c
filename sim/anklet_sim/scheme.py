"""The `sim` and `sim:ble` device schemes: how `anklet` opens a simulated board.

Registered through the `anklet.device_schemes` entry points (pyproject.toml), so that the host
library finds the simulator without importing it:

    anklet log --device sim          # the simulated board on a pseudo-terminal
    anklet log --device sim:ble      # the same board behind its simulated radio
    anklet log-pair --left "sim?id=1" --right "sim?id=2"   # two boards at once

`?id=N` (1-99) makes another board: its own flash folder (`sim-flash-N`) and unique id
(24a160c0ffNN, so the name Anklet-FFNN and its BLE address differ), so several run at once.
`&clock_offset_us=U` starts its clock U µs ahead of the PC's (see mpy/time.py), as two real
boards' clocks differ: the truth a two-board session's clock fits are tested against.
`?psram=1` makes it a board with PSRAM (an ESP32-WROVER or ESP32-S3 on MicroPython's SPIRAM
image): a heap of MBs, so a ring of 256 KB, 17 s at 1000 Hz (docs/INTEGRITY.md).
`&motion_from=start` starts the simulated exercise at the first START instead of at power-on:
the athlete waits for the recording, however long the board took to be reached.
`&ankring=0` makes it a board flashed without `anklet flash` (plain esptool, Thonny): no
`ankring` partition, so a dropped link is refilled from its RAM ring only.
An ESP32 board without PSRAM has the ESP32's growable heap (heap.py; docs/HIL.md, "The heap
model"); `&heap=fixed` gives it the interpreter's fixed heap instead, as `--fast` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qsl

from anklet.connect import DEFAULT_SIM_MOTION, default_sim_flash, motion_spec
from anklet.deploy import Target
from anklet.device import Device
from anklet.schemes import OpenOptions
from anklet.transport import TransportError
from anklet.transport.serial import SerialTransport

from .board import MAX_CLOCK_OFFSET_US, MicroPythonMissing, SimulatedBoard

DEFAULT_UNIQUE_ID = "24a160c0ffee"
_QUERY_KEYS = ("id", "clock_offset_us", "psram", "motion_from", "ankring", "heap")


def _whole(dev: str, key: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise TransportError(
            f"{dev!r}: {key}={value!r} must be a whole number from {low} to {high}"
        )
    return int(value)


def board_variant(dev: str, options: OpenOptions) -> tuple[OpenOptions, str]:
    """The options and unique id of the board `dev` names: `sim`, or `sim?id=2&...`."""
    _, _, query = dev.partition("?")
    if not query:
        return options, DEFAULT_UNIQUE_ID
    fields = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(fields) - set(_QUERY_KEYS))
    if unknown or not fields:
        raise TransportError(
            f"{dev!r}: unknown option {', '.join(unknown) or query!r}; use "
            "?id=N (1-99), &clock_offset_us=U, &psram=1, &motion_from=start, &ankring=0 "
            "and &heap=fixed"
        )
    sim_options = dict(options.sim_options)
    unique_id = DEFAULT_UNIQUE_ID
    flash = options.sim_flash or default_sim_flash()
    if "id" in fields:
        board_id = _whole(dev, "id", fields["id"], 1, 99)
        unique_id = f"24a160c0ff{board_id:02x}"
        flash = flash.parent / f"{flash.name}-{board_id}"
    if "clock_offset_us" in fields:
        sim_options["clock_offset_us"] = _whole(
            dev, "clock_offset_us", fields["clock_offset_us"], 0, MAX_CLOCK_OFFSET_US - 1
        )
    if "psram" in fields:
        sim_options["psram"] = _whole(dev, "psram", fields["psram"], 0, 1)
    if "ankring" in fields and not _whole(dev, "ankring", fields["ankring"], 0, 1):
        sim_options["flash_ring_kb"] = 0  # else the simulated flash's default, 512 KiB
    if "heap" in fields:
        if fields["heap"] not in ("esp32", "fixed"):
            raise TransportError(f"{dev!r}: heap={fields['heap']!r} must be esp32 or fixed")
        sim_options["heap"] = fields["heap"]
    if "motion_from" in fields:
        if fields["motion_from"] not in ("boot", "start"):
            raise TransportError(
                f"{dev!r}: motion_from={fields['motion_from']!r} must be boot or start"
            )
        sim_options["motion_from"] = fields["motion_from"]
    return dataclasses.replace(options, sim_flash=flash, sim_options=sim_options), unique_id


def _board(options: OpenOptions, unique_id: str = DEFAULT_UNIQUE_ID) -> SimulatedBoard:
    try:
        return SimulatedBoard(
            flash_dir=options.sim_flash or default_sim_flash(),
            motion=motion_spec(options.sim_motion or DEFAULT_SIM_MOTION),
            unique_id=unique_id,
            sim_options=dict(options.sim_options),
            fast=options.sim_fast,
        )
    except ValueError as exc:  # a bad --motion: the simulator says which key and why
        raise TransportError(str(exc)) from None


@contextlib.contextmanager
def _running(board: SimulatedBoard) -> Iterator[SimulatedBoard]:
    """The board powered on, and off after; no MicroPython to run it is the scheme's one-line
    error (a wheel does not carry it), as for every command that starts a simulated board."""
    try:
        board.start()
    except MicroPythonMissing as exc:
        raise TransportError(str(exc)) from None
    try:
        yield board
    finally:
        board.stop()


class _SimulatedBoardScheme:
    """What both schemes share: a board of their own for `anklet sim` and `anklet deploy`."""

    @contextlib.contextmanager
    def serve(self, options: OpenOptions) -> Iterator[list[str]]:
        with _running(_board(options)) as board:
            yield [
                f"simulated board running: serial port {board.port}",
                f"  connect with: anklet log --device serial:{board.port}",
                f"  flash directory: {board.flash_dir}",
            ]

    @contextlib.contextmanager
    def deploy_target(self, options: OpenOptions) -> Iterator[Target]:
        # Firmware goes in over the board's serial REPL, as on a real board.
        board = SimulatedBoard(flash_dir=options.sim_flash or default_sim_flash())
        with _running(board):
            yield Target(board.port, f"sim:{board.flash_dir}", power_cycle=board.power_cycle)


class SerialSimScheme(_SimulatedBoardScheme):
    name = "sim"
    usage = "sim"

    def matches(self, dev: str) -> bool:
        return dev == "sim" or dev.startswith("sim?")

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: OpenOptions) -> AsyncIterator[Device]:
        options, unique_id = board_variant(dev, options)
        with _running(_board(options, unique_id)) as board:
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
        return dev == "sim:ble" or dev.startswith("sim:ble?")

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: OpenOptions) -> AsyncIterator[Device]:
        from anklet.ble.keystore import PrivateJsonKeyStore
        from anklet.transport.ble import BleTransport

        from .ble_board import SimulatedBleBoard

        options, unique_id = board_variant(dev, options)
        try:
            ble_board = SimulatedBleBoard(
                options.sim_flash or default_sim_flash(),
                motion=motion_spec(options.sim_motion or DEFAULT_SIM_MOTION),
                sim_options=dict(options.sim_options),
                unique_id=unique_id,
            )
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        async with ble_board as board:
            # Pairs on first connect: the board refuses commands on an unencrypted link. The
            # board keeps its bond in its flash, so the host keeps its half beside it, as a
            # computer keeps its Bluetooth bonds: the next run reconnects without pairing.
            keys = board.flash_dir.parent / f"{board.flash_dir.name}-host-keys.json"
            central = board.central(keystore=PrivateJsonKeyStore(None, str(keys)))
            transport = BleTransport(None, pair=True, central=central)
            device = Device(transport, options.command_timeout_s)
            device.sim = board  # type: ignore[attr-defined]
            try:
                yield device
            finally:
                await device.close()


SIM = SerialSimScheme()
SIM_BLE = BleSimScheme()
