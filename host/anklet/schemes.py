"""Device schemes: what a DEV string names and how to open it, extended by other packages.

    scheme = schemes.find("sim:ble")             # the registered DeviceScheme, or None
    async with scheme.open("sim:ble", options) as device: ...

Built in: `serial:PATH` and `ble:NAME_OR_ADDRESS`. Another package adds schemes through the
`anklet.device_schemes` entry point group, the way pyserial finds its URL handlers and bleak its
backends: the simulated board registers `sim` and `sim:ble` from its own package, and the core
never imports it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .device import Device
from .transport import TransportError
from .transport.serial import SerialTransport

if TYPE_CHECKING:
    from .deploy import Target

ENTRY_POINT_GROUP = "anklet.device_schemes"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenOptions:
    """What opening a device may need; a scheme uses the parts that concern it."""

    command_timeout_s: float = 2.0
    ble_backend: str | None = None
    sim_motion: str | None = None  # simulated boards: a motion spec
    sim_flash: Path | None = None  # simulated boards: their flash directory
    sim_fast: bool = False  # simulated boards: without the ESP32 model (PC speed)
    sim_options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class DeviceScheme(Protocol):
    """One kind of DEV string."""

    name: str  # what DEV starts with: "serial", "sim:ble"
    usage: str  # how to write it, for help and errors: "serial:PATH"

    def matches(self, dev: str) -> bool: ...

    def open(self, dev: str, options: OpenOptions) -> AbstractAsyncContextManager[Device]:
        """An opened Device for the block; whatever backs it lives as long."""
        ...


@runtime_checkable
class ServingScheme(DeviceScheme, Protocol):
    """A scheme that can also bring up a board on its own: `anklet sim`, `anklet deploy`."""

    def serve(self, options: OpenOptions) -> AbstractContextManager[list[str]]:
        """Start the board and keep it up for the block; yields lines telling how to reach it."""
        ...

    def deploy_target(self, options: OpenOptions) -> AbstractContextManager[Target]:
        """A board to deploy firmware into, with its serial port and power switch."""
        ...


class SerialScheme:
    name = "serial"
    usage = "serial:PATH"

    def matches(self, dev: str) -> bool:
        return dev.startswith("serial:")

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: OpenOptions) -> AsyncIterator[Device]:
        device = Device(SerialTransport(dev.removeprefix("serial:")), options.command_timeout_s)
        try:
            yield device
        finally:
            await device.close()


class BleScheme:
    name = "ble"
    usage = "ble:NAME_OR_ADDRESS"

    def matches(self, dev: str) -> bool:
        return dev.startswith("ble:")

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: OpenOptions) -> AsyncIterator[Device]:
        try:
            from .transport.ble import BleTransport
        except ImportError:
            raise TransportError("BLE support is not available in this build") from None
        transport = BleTransport(dev.removeprefix("ble:"), backend=options.ble_backend)
        device = Device(transport, options.command_timeout_s)
        try:
            yield device
        finally:
            await device.close()


BUILT_IN: tuple[DeviceScheme, ...] = (SerialScheme(), BleScheme())


def registered() -> list[DeviceScheme]:
    """Built-in schemes, then those that installed packages register, by entry point name."""
    schemes: list[DeviceScheme] = list(BUILT_IN)
    for entry in _entry_points():
        try:
            scheme = entry.load()
        except Exception as exc:  # a broken plug-in must not take the built-in schemes down
            log.warning("device scheme %s from %s failed to load: %s", entry.name, entry.value, exc)
            continue
        if isinstance(scheme, DeviceScheme):
            schemes.append(scheme)
        else:
            log.warning("device scheme %s from %s is not a DeviceScheme", entry.name, entry.value)
    return schemes


def _entry_points() -> Iterator[Any]:
    yield from sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)


def find(dev: str) -> DeviceScheme | None:
    """The scheme that opens `dev` (a resolved DEV string), if one is installed; the most
    specific name wins (`sim:ble` before `sim`)."""
    candidates = sorted(registered(), key=lambda s: -len(s.name))
    return next((s for s in candidates if s.matches(dev)), None)


def usages() -> str:
    """Every installed way of naming a device, for help and errors: 'serial:PATH, ...'."""
    return ", ".join(s.usage for s in registered())
