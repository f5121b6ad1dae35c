"""Turn a DEV string into a connected Device.

    async with open_device("serial:/dev/ttyUSB0") as board: ...
    async with open_device("sim") as board: ...     # starts a simulated board in the background

DEV is `serial:PATH`, `ble:NAME_OR_ADDRESS`, a scheme another package registers (the simulated
board's `sim` and `sim:ble`: see anklet.schemes), or the name of a remembered device
(`anklet pair`).
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

from . import schemes
from .device import Device
from .transport import TransportError

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
    for prefix, what, example in (
        ("serial:", "a port path", "/dev/ttyUSB0"),
        ("ble:", "a board's name or address", "Anklet-C0FE"),
    ):
        if dev.startswith(prefix) and not dev.removeprefix(prefix).strip():
            raise TransportError(f"{dev!r} names no board: give {what}, e.g. {prefix}{example}")
    if schemes.find(dev) is not None:
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
        f"unknown device {dev!r}: use {schemes.usages()} or a remembered name ({known})"
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
    """Yield an opened Device; whatever backs it (a simulated board) lives exactly as long as
    the block. Schemes come from `anklet.schemes`: built in, or registered by packages."""
    target = resolve(dev)
    scheme = schemes.find(target)
    if scheme is None:
        raise TransportError(f"cannot open {target!r}: use {schemes.usages()}")
    options = schemes.OpenOptions(
        command_timeout_s=command_timeout_s,
        ble_backend=ble_backend,
        sim_motion=sim_motion,
        sim_flash=sim_flash,
        sim_options=sim_options or {},
    )
    async with scheme.open(target, options) as device:
        yield device
