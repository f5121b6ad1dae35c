"""Record sessions from the board under test, the way `anklet log` does, and keep what a test
needs to judge them: the files, session.json, and when each block arrived on the host clock.

    rec = await record(board, tmp_path / "out", seconds=20, rate_hz=200)
    rec.indices()                   # samples.csv's index column
    rec.meta["clock"][0]            # the clock model (rate, drift)
    rec.host_rate_hz()              # the IMU rate measured on arrival against the host clock

    plan = Plan({"rate-100": Job(rate_hz=100, seconds=60), ...})
    plan.get("rate-100")            # records every pending job at once (one board each) first

Long recordings of the simulated targets run concurrently, one simulated board each, in one
asyncio loop; a real board records them one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from accounting import assert_every_sample_accounted
from anklet.clock import robust_line
from anklet.recorder import SessionRecorder, SessionSummary
from anklet_protocol.decoder import SampleBlock
from targets import DEFAULT_MOTION, Board, Target, open_board

BLE_SIM_CONCURRENCY = 3


class _TimedRecorder(SessionRecorder):
    """A SessionRecorder that also notes the host time each first-time block arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, int]] = []  # (host monotonic s, block end index)

    def _on_block(self, block: SampleBlock) -> None:
        if not block.resent and self.log is not None and self.log.segments == 1:
            self.arrivals.append((time.monotonic(), block.end_index))
        super()._on_block(block)


@dataclass
class Recording:
    summary: SessionSummary
    rate_hz: int
    seconds: float
    arrivals: list[tuple[float, int]]
    wall_s: float
    job: Job | None = None

    @property
    def folder(self) -> Path:
        return self.summary.folder

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.folder / "session.json").read_text())

    @property
    def samples_csv(self) -> Path:
        return self.folder / "samples.csv"

    def column(self, name: str, csv_name: str = "samples.csv") -> np.ndarray:
        with open(self.folder / csv_name) as f:
            values = [row[name] for row in csv.DictReader(f)]
        return np.array([float(v) if v else np.nan for v in values])

    def indices(self) -> np.ndarray:
        return self.column("index").astype(np.int64)

    def unexcused_loss(self, target: Target) -> int:
        """Samples lost that the board under test answers for, once every sample is accounted
        for. A real board answers for every one. The simulated board shares a machine whose
        scheduler may starve its interpreter past the IMU FIFO's depth (85 ms at 1 kHz); the
        samples it then drops, it counts and flags itself, so only the rest count there.
        Zero loss at rate on an unloaded machine is bench/'s figure."""
        meta = assert_every_sample_accounted(self.folder)
        lost = self.summary.lost
        if target.is_sim:
            lost -= (meta["board_status"] or {}).get("samples_dropped", 0)
        return lost

    def host_rate_hz(self) -> float:
        """IMU samples per host second: a straight line through block arrivals (index, time).

        Arrival jitter (link latency, scheduling) averages out over the fit; the first two
        seconds are left out (the board fills its buffers while the host catches up)."""
        arrivals = np.array(self.arrivals, dtype=np.float64)
        keep = arrivals[:, 0] >= arrivals[0, 0] + 2.0
        _, slope_s, _ = robust_line(arrivals[keep, 1], arrivals[keep, 0])
        return 1.0 / slope_s


async def record(
    board: Board,
    out: Path,
    seconds: float,
    rate_hz: int = 200,
    during: Callable[[SessionRecorder], Awaitable[None]] | None = None,
) -> Recording:
    """Record `seconds` at `rate_hz`; `during(recorder)` runs alongside (link cuts, faults)."""
    recorder = _TimedRecorder(board.device, out, imu_rate_hz=rate_hz)
    start = time.monotonic()
    task = asyncio.create_task(recorder.run(seconds))
    if during is not None:
        await during(recorder)
    summary = await task
    return Recording(summary, rate_hz, seconds, recorder.arrivals, time.monotonic() - start)


@dataclass(frozen=True)
class Job:
    """One long recording: on a fresh simulated board, or on the real board."""

    rate_hz: int
    seconds: float
    motion: str = DEFAULT_MOTION
    sim_options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None  # the CSV a replay motion plays


class Plan:
    """Long recordings wanted by the selected tests, made together on first use."""

    def __init__(self, target: Target, folder: Path, jobs: dict[str, Job]) -> None:
        self.target = target
        self.folder = folder
        self.jobs = jobs
        self._done: dict[str, Recording | BaseException] = {}

    def get(self, key: str) -> Recording:
        if key not in self.jobs:
            raise KeyError(f"no recording {key!r} planned (planned: {', '.join(self.jobs)})")
        if key not in self._done:
            pending = {k: j for k, j in self.jobs.items() if k not in self._done}
            asyncio.run(self._run(pending))
        result = self._done[key]
        if isinstance(result, BaseException):
            raise result
        return result

    async def _one(self, key: str, job: Job, slots: asyncio.Semaphore, opening: asyncio.Lock):
        try:
            async with slots, contextlib.AsyncExitStack() as stack:
                async with opening:  # boards boot and connect one at a time, then record
                    board = await stack.enter_async_context(
                        open_board(
                            self.target,
                            self.folder / key,
                            motion=job.motion,
                            sim_options=job.sim_options,
                        )
                    )
                rec = await record(board, self.folder / key / "out", job.seconds, job.rate_hz)
            rec.job = job
            self._done[key] = rec
        except Exception as exc:  # the tests that use this recording report it
            self._done[key] = exc

    async def _run(self, jobs: dict[str, Job]) -> None:
        # Longest first, so that the slots free up together.
        order = sorted(jobs.items(), key=lambda kv: -kv[1].seconds)
        slots = asyncio.Semaphore(self.concurrency)
        opening = asyncio.Lock()
        await asyncio.gather(*(self._one(k, j, slots, opening) for k, j in order))

    @property
    def concurrency(self) -> int:
        """Recordings at once: a real board is one board; the simulated radio (bumble, in this
        process) costs far more host CPU per board than the simulated serial port."""
        if not self.target.is_sim:
            return 1
        return BLE_SIM_CONCURRENCY if self.target.is_ble else len(self.jobs)
