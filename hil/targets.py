"""The board under test, for every `--target`: open a Device on it and act on the simulator.

    target = Target.parse("sim")                   # sim, sim:ble, serial:PATH, ble:NAME
    async with open_board(target, tmp_path, motion="still:mass=0") as board:
        info = await board.device.get_info()
        await board.cut_link(3.0)                  # simulator only: the link is lost for 3 s
        info = await board.wait_rebooted(since_s)  # after REBOOT or a watchdog reset

A simulated target is a fresh board per `open_board` (its flash in the given folder); a real
target is the one board on the bench, left stopped at the start and at the end. Motion, sensor
options and faults apply to simulated boards only: tests that need them are `sim_only`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anklet.device import Device, DeviceError, DeviceInfo, StatusReport
from anklet.transport import LinkLost, TransportError
from anklet.transport.ble import BleTransport
from anklet.transport.serial import SerialTransport

#: A quiet workout in the background of tests that do not look at the motion.
DEFAULT_MOTION = "leg-raise:sets=3,reps=10,rom=50,up=1,hold=0.5,down=1.2,rest=15,loop=1,seed=5"
_LinkErrors = (LinkLost, TransportError, DeviceError, TimeoutError)


@dataclass(frozen=True)
class Target:
    """What `--target` names: `kind` is sim, sim:ble, serial or ble; `where` the port/name."""

    kind: str
    where: str = ""

    @classmethod
    def parse(cls, text: str) -> Target:
        if text in ("sim", "sim:ble"):
            return cls(text)
        for kind in ("serial", "ble"):
            if text.startswith(kind + ":") and len(text) > len(kind) + 1:
                return cls(kind, text[len(kind) + 1 :])
        raise ValueError(
            f"--target {text!r}: use sim, sim:ble, serial:PATH (e.g. serial:/dev/ttyUSB0) or "
            "ble:NAME_OR_ADDRESS"
        )

    @property
    def is_sim(self) -> bool:
        return self.kind.startswith("sim")

    @property
    def is_ble(self) -> bool:
        return self.kind in ("ble", "sim:ble")

    def __str__(self) -> str:
        return f"{self.kind}:{self.where}" if self.where else self.kind


class _OutOfRangeGate(BleTransport):
    """The simulated radio's central, which cannot connect while "out of range"."""

    out_of_range_until = 0.0

    async def connect(self) -> None:
        if time.monotonic() < self.out_of_range_until:
            raise TransportError(f"{self.description}: out of range (simulated)")
        await super().connect()


class Board:
    """An opened board: `device` for commands and the stream, plus the simulator's controls."""

    def __init__(self, target: Target, device: Device, sim: Any = None, ble_sim: Any = None):
        self.target = target
        self.device = device
        self.sim = sim  # anklet_sim.board.SimulatedBoard: the firmware's process, its faults
        self.ble_sim = ble_sim  # anklet_sim.ble_board.SimulatedBleBoard on sim:ble
        self.central: Any = None  # sim:ble: the owner's bumble central (a private one)

    # --- simulator controls (sim_only tests) -----------------------------------------------

    def _require_sim(self) -> Any:
        if self.sim is None:
            raise RuntimeError(f"{self.target} is a real board: this needs the simulator")
        return self.sim

    async def cut_link(self, seconds: float) -> None:
        """Lose the link for `seconds`: serial bytes dropped, or the radio out of range."""
        sim = self._require_sim()
        if self.ble_sim is None:
            sim.cut_link(seconds)
            return
        transport = self.device.transport
        assert isinstance(transport, _OutOfRangeGate)
        transport.out_of_range_until = time.monotonic() + seconds
        self.ble_sim.radio.drop_connection()

    def log_tail(self, lines: int = 20) -> str:
        """The end of the simulated board's stderr (tracebacks, watchdog messages)."""
        return self.sim.log_tail(lines) if self.sim is not None else ""

    def set_faults(self, **faults: Any) -> None:
        self._require_sim().set_faults(**faults)

    async def power_cycle(self, motion: str | None = None) -> None:
        """Reset the simulated board (optionally with new motion); reconnect when it is back."""
        sim = self._require_sim()
        if motion is not None:
            sim.motion = motion
        since = time.monotonic()
        if self.ble_sim is not None:
            await self.ble_sim.power_cycle()
        else:
            await asyncio.to_thread(sim.power_cycle)
        await self.wait_rebooted(since)

    # --- any target --------------------------------------------------------------------------

    async def answer(self, timeout_s: float = 20.0) -> DeviceInfo:
        """GET_INFO, reconnecting and retrying until the board answers (it may be booting)."""
        return await self.device.wait_ready(timeout_s, retry_open=True)

    async def wait_rebooted(self, since_s: float, timeout_s: float = 30.0) -> StatusReport:
        """Wait until the board answers with an uptime that began after host time `since_s`."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"  # what the last try saw, for the error
        while True:
            try:
                await self.answer(max(1.0, deadline - time.monotonic()))
                status = await self.device.get_status()
                booted_s = time.monotonic() - status.uptime_ms / 1000
                if booted_s > since_s:  # uptime is stamped before `now`: never early
                    return status
                last = f"answered with uptime {status.uptime_ms} ms, a boot before the reset"
            except _LinkErrors as exc:
                last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.target} did not reboot within {timeout_s:.0f} s (last try: {last})"
                )
            await asyncio.sleep(0.3)


def _ble_board_class() -> Any:
    from anklet_sim.ble_board import SimulatedBleBoard

    return SimulatedBleBoard


@contextlib.asynccontextmanager
async def open_board(
    target: Target,
    folder: Path,
    *,
    motion: str = DEFAULT_MOTION,
    sim_options: dict[str, Any] | None = None,
    faults: dict[str, Any] | None = None,
    command_timeout_s: float = 2.0,
) -> AsyncIterator[Board]:
    """An opened, answering, stopped board; a simulated one lives as long as the block."""
    folder.mkdir(parents=True, exist_ok=True)
    options = dict(sim_options or {})
    async with contextlib.AsyncExitStack() as stack:
        sim = ble_sim = None
        if target.kind == "sim":
            from anklet_sim.board import SimulatedBoard

            sim = SimulatedBoard(
                flash_dir=folder / "flash",
                motion=motion,
                sim_options=options,
                faults=dict(faults or {}),
            )
            await asyncio.to_thread(sim.start)
            stack.callback(sim.stop)
            transport: Any = SerialTransport(sim.port)
        elif target.kind == "sim:ble":
            ble_sim = _ble_board_class()(
                folder / "flash", motion=motion, sim_options=options, faults=dict(faults or {})
            )
            await ble_sim.start()
            stack.push_async_callback(ble_sim.stop)
            sim = ble_sim.board
            # The host as a phone or laptop is: on resolvable private addresses.
            central = ble_sim.central(private=True)
            transport = _OutOfRangeGate(None, central=central, pair=True)
        elif target.kind == "serial":
            transport = SerialTransport(target.where)
        else:
            transport = BleTransport(target.where, pair=True)
        device = Device(transport, command_timeout_s)
        stack.push_async_callback(device.close)
        board = Board(target, device, sim, ble_sim)
        if ble_sim is not None:
            board.central = central
        with contextlib.suppress(*_LinkErrors):
            await device.open()
        try:
            await board.answer()
        except _LinkErrors as exc:
            if sim is None:
                raise
            raise TransportError(f"{exc}; the simulated board's log:\n{board.log_tail()}") from exc
        await device.stop()
        yield board
        with contextlib.suppress(*_LinkErrors):
            await asyncio.wait_for(device.stop(), 3.0)
