"""Turn a DEV string into a connected Device.

    async with open_device("serial:/dev/ttyUSB0") as board: ...
    async with open_device("sim") as board: ...     # starts a simulated board in the background

DEV is `sim` (the simulated board over serial), `sim:ble` (over the simulated radio),
`serial:PATH`, `ble:NAME_OR_ADDRESS`, or the name of a remembered device (`anklet pair`).
With no DEV: the only remembered device if there is exactly one, otherwise `sim`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from .device import Device
from .transport import TransportError
from .transport.serial import SerialTransport

# Three sets of ten leg raises: ~105 s with the 3 s lead-in and two 15 s rests.
DEFAULT_SIM_MOTION = (
    "leg-raise:sets=3,reps=10,rom=60,up=0.8,hold=0.3,down=1.0,pause=0.3,rest=15,sway=2,seed=7"
)
DEMO_SECONDS = 108.0


def motion_spec(motion: str) -> str:
    """A motion spec for the simulated board; a CSV file path becomes a replay of it."""
    if motion.lower().endswith(".csv") or (Path(motion).is_file() and ":" not in motion):
        path = Path(motion).expanduser().resolve()
        if not path.is_file():
            raise TransportError(f"no such recording: {motion}")
        return f"csv:path={path}"
    return motion


def config_dir() -> Path:
    return Path(os.environ.get("ANKLET_CONFIG_DIR") or platformdirs.user_config_path("anklet"))


def data_dir() -> Path:
    return Path(os.environ.get("ANKLET_DATA_DIR") or platformdirs.user_data_path("anklet"))


def default_sim_flash() -> Path:
    return data_dir() / "sim-flash"


@dataclass
class Remembered:
    name: str
    device: str  # a DEV string: "ble:AA:BB:...", "serial:/dev/ttyUSB0"
    address: str = ""


class DeviceRegistry:
    """Remembered devices, in the user's config directory (devices.json)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "devices.json"

    def load(self) -> dict[str, Remembered]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            return {name: Remembered(name=name, **entry) for name, entry in data.items()}
        except (ValueError, TypeError) as exc:
            raise TransportError(
                f"{self.path} is not a valid device list ({exc}): fix or delete it"
            ) from None

    def save(self, devices: dict[str, Remembered]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {d.name: {"device": d.device, "address": d.address} for d in devices.values()}
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.path)

    def remember(self, name: str, device: str, address: str = "") -> None:
        devices = self.load()
        devices[name] = Remembered(name, device, address)
        self.save(devices)

    def forget(self, name: str) -> bool:
        devices = self.load()
        if name not in devices:
            return False
        del devices[name]
        self.save(devices)
        return True


def resolve(dev: str | None, registry: DeviceRegistry | None = None) -> str:
    """The DEV string to open, after defaults and remembered names."""
    registry = registry or DeviceRegistry()
    if not dev:
        remembered = registry.load()
        if len(remembered) == 1:
            return next(iter(remembered.values())).device
        return "sim"
    if dev in ("sim", "sim:ble"):
        return dev
    for scheme in ("serial:", "ble:"):
        if dev.startswith(scheme) and not dev.removeprefix(scheme).strip():
            what = "a port path" if scheme == "serial:" else "a board's name or address"
            raise TransportError(
                f"{dev!r} names no board: give {what}, e.g. {scheme}"
                + ("/dev/ttyUSB0" if scheme == "serial:" else "Anklet-C0FE")
            )
        if dev.startswith(scheme):
            return dev
    remembered = registry.load()
    if dev in remembered:
        return remembered[dev].device
    if dev.startswith("/dev/") or dev.upper().startswith("COM"):
        return f"serial:{dev}"
    known = ", ".join(sorted(remembered)) or "none yet (anklet pair)"
    raise TransportError(
        f"unknown device {dev!r}: use sim, sim:ble, serial:PATH, ble:NAME or a remembered name "
        f"({known})"
    )


@contextlib.asynccontextmanager
async def open_device(
    dev: str | None,
    *,
    sim_motion: str = DEFAULT_SIM_MOTION,
    sim_flash: Path | None = None,
    sim_options: dict[str, Any] | None = None,
    ble_backend: str | None = None,
    command_timeout_s: float = 2.0,
) -> AsyncIterator[Device]:
    """Yield an opened Device; a simulated board lives exactly as long as the block."""
    target = resolve(dev)
    if target == "sim":
        from anklet_sim.board import SimulatedBoard

        try:
            board = SimulatedBoard(
                flash_dir=sim_flash or default_sim_flash(),
                motion=motion_spec(sim_motion),
                sim_options=sim_options or {},
            )
        except ValueError as exc:  # a bad --motion: the simulator says which key and why
            raise TransportError(str(exc)) from None
        board.start()
        try:
            device = Device(SerialTransport(board.port), command_timeout_s)
            device.sim = board  # type: ignore[attr-defined]
            try:
                yield device
            finally:
                await device.close()
        finally:
            board.stop()
        return
    if target == "sim:ble":
        from anklet_sim.ble_board import SimulatedBleBoard

        from .transport.ble import BleTransport

        try:
            ble_sim = SimulatedBleBoard(
                sim_flash or default_sim_flash(),
                motion=motion_spec(sim_motion),
                sim_options=sim_options or {},
            )
        except ValueError as exc:
            raise TransportError(str(exc)) from None
        async with ble_sim as ble_board:
            # Pairs on first connect: the board refuses commands on an unencrypted link.
            transport = BleTransport(None, pair=True, central=ble_board.central())
            device = Device(transport, command_timeout_s)
            device.sim = ble_board  # type: ignore[attr-defined]
            try:
                yield device
            finally:
                await device.close()
        return
    if target.startswith("serial:"):
        device = Device(SerialTransport(target.removeprefix("serial:")), command_timeout_s)
    elif target.startswith("ble:"):
        try:
            from .transport.ble import BleTransport
        except ImportError:
            raise TransportError("BLE support is not available in this build") from None
        device = Device(
            BleTransport(target.removeprefix("ble:"), backend=ble_backend), command_timeout_s
        )
    else:
        raise TransportError(f"cannot open {target!r}")
    try:
        yield device
    finally:
        await device.close()
