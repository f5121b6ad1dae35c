"""One logged session, end to end: open the board, record, analyse. `anklet log` and
`anklet demo` are this, with different options (the demo: the simulated board, its workout).

    session = LogSession(LogOptions(device="sim", duration_s=60))
    session.subscribe(lambda event: print(event))   # training.RepEnded / JumpLanded, live
    summary = await session.run()                   # session.stop() from a signal handler
    summary.training.reps, summary.folder

A --rate given for the session is set on the board for it and the board's saved rate put back
afterwards, also when the board refused it.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

from .analysis.targets import targets_for
from .connect import DEFAULT_SIM_MOTION, DEMO_SECONDS, default_sim_flash, open_device
from .device import Device, DeviceError
from .labels import Labels
from .recorder import LiveStats, SessionRecorder, SessionSummary
from .training import Listener
from .transport import TransportError

log = logging.getLogger(__name__)

DEMO_RATE_HZ = 200


@dataclass(frozen=True)
class DeviceOptions:
    """How to reach a board: the options every device command shares."""

    device: str | None = None  # a DEV string (None: the only remembered device, else sim)
    sim_motion: str = DEFAULT_SIM_MOTION  # the simulated board's workout
    sim_flash: Path | None = None  # the simulated board's flash (None: the user's)
    ble_backend: str | None = None  # "bumble:TRANSPORT" instead of the system's stack

    def open(self) -> AbstractAsyncContextManager[Device]:
        """The board, opened: `async with options.open() as device`."""
        return open_device(
            self.device,
            sim_motion=self.sim_motion,
            sim_flash=self.sim_flash,
            ble_backend=self.ble_backend,
        )


@dataclass(frozen=True)
class LogOptions:
    board: DeviceOptions = field(default_factory=DeviceOptions)
    duration_s: float | None = None  # None: until stop()
    rate_hz: int | None = None  # IMU rate for this session (None: the board's own)
    out_dir: Path = Path("sessions")
    keep_raw: bool = False  # capture.bin + capture.jsonl, for `anklet decode`
    labels: Labels | None = None  # exercise, side, athlete, load, note: in session.json

    @classmethod
    def demo(cls, out_dir: Path = Path("sessions"), duration_s: float = DEMO_SECONDS) -> LogOptions:
        """The simulated board's 3 sets of 10 leg raises, on a flash of its own."""
        board = DeviceOptions("sim", DEFAULT_SIM_MOTION, default_sim_flash().parent / "demo-flash")
        return cls(board, duration_s=duration_s, rate_hz=DEMO_RATE_HZ, out_dir=out_dir)


class LogSession:
    """Runs one session; `live`, `device_line` and `subscribe` are for a display."""

    def __init__(self, options: LogOptions) -> None:
        self.options = options
        self.recorder: SessionRecorder | None = None
        self._description = options.board.device or "default device"
        self.rate_note = ""  # set when the board's saved rate could not be put back
        self._listeners: list[Listener] = []
        self._runner: asyncio.Task[object] | None = None
        self._connecting = LiveStats()

    @property
    def device_line(self) -> str:
        """The board's own name once it has answered, and the link it is on."""
        recorder = self.recorder
        if recorder is None or recorder.log is None:
            return self._description
        return f"{recorder.log.info.name} on {self._description}"

    @property
    def live(self) -> LiveStats:
        return self.recorder.live if self.recorder is not None else self._connecting

    def subscribe(self, listener: Listener) -> None:
        """Training events (reps, jumps) of the session, as they happen; call before run()."""
        self._listeners.append(listener)

    def stop(self) -> None:
        """While recording: end cleanly, every file complete. While connecting: give up."""
        if self.recorder is not None and self.recorder.log is not None:
            self.recorder.request_stop()
        elif self._runner is not None:
            self._runner.cancel()

    async def run(self) -> SessionSummary:
        self._runner = asyncio.current_task()
        opts, board = self.options, self.options.board
        async with board.open() as device:
            self._description = device.description
            saved_rate_hz = (await device.wait_ready()).imu_rate_hz if opts.rate_hz else None
            recorder = SessionRecorder(
                device,
                opts.out_dir,
                imu_rate_hz=opts.rate_hz,
                keep_raw=opts.keep_raw,
                labels=opts.labels,
            )
            if opts.labels is not None:  # the final form flags judge the labelled exercise
                recorder.training.targets = targets_for(opts.labels.exercise)
            for listener in self._listeners:
                recorder.training.subscribe(listener)
            self.recorder = recorder
            try:
                summary = await recorder.run(opts.duration_s)
            finally:
                if saved_rate_hz and saved_rate_hz != opts.rate_hz:
                    # The rate is for this session, also one the board refused: it keeps the
                    # rate `anklet set` saved.
                    await self._restore_rate(device, saved_rate_hz)
        return summary

    async def _restore_rate(self, device: Device, saved_rate_hz: int) -> None:
        try:
            await device.set_rates(imu_rate_hz=saved_rate_hz)
        except (DeviceError, TransportError) as exc:
            self.rate_note = f"the board still runs at {self.options.rate_hz} Hz: {exc}"
            log.warning("%s", self.rate_note)
