"""Left and right at once: two boards recorded in one session, on the host's one clock.

    result = await record_pair({"left": "sim?id=1", "right": "sim?id=2"}, Path("sessions"),
                               duration_s=60)
    result.folder, result.clock.right_minus_left_s, result.analysis["symmetry"]["metrics"]

One SessionRecorder per board runs concurrently; each writes an ordinary session folder, moved at
the end to <session>/left/ and <session>/right/. Each recorder fits its board's clock to the
host's monotonic clock (clock.py) from the pings of its first two seconds, so both sides' rows
are host time. Side by side that is not close enough (over BLE a reply waits for the next
connection event, so a round trip is 10-60 ms and its midpoint misplaced by several ms), so
the pair pings each board ten times a second while it records and fits its clock again from
all those round trips together (clock.bounded_fit). The parent session.json holds the sides, their
devices, where each side's t_s sits on the shared timeline (with that refinement), the offset
between the two boards' clocks with its uncertainty, and the symmetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anklet_protocol import spec

from .clock import UNMEASURED_DRIFT_PPM, HostFit, bounded_fit
from .connect import DEFAULT_SIM_MOTION, open_device
from .csvlog import folder_name
from .device import Device, DeviceError
from .labels import Labels
from .recorder import SessionRecorder, SessionSummary
from .training import TrainingOutcome
from .transport import TransportError

SIDES = ("left", "right")
_HALF_TICKS_US = spec.TICKS_PERIOD_US // 2
_PING_EVERY_S = 0.1  # the pair's own time-sync pings, per board (after each reply)
_PING_TIMEOUT_S = 2.0
_LinkErrors = (DeviceError, TransportError, TimeoutError)


@dataclass(frozen=True)
class ClockOffset:
    """The right board's clock minus the left board's, read at the same host instant.

    Wire ticks wrap every 2**30 µs, so the offset is given within ±537 s (what it is modulo
    the wrap). uncertainty_s is one standard deviation, bound_s the largest error anywhere in
    the session (docs/ARCHITECTURE.md, "Two boards, one clock")."""

    right_minus_left_s: float
    uncertainty_s: float
    bound_s: float
    at_host_s: float  # the host instant it was evaluated at (the session's middle)


@dataclass
class SideResult:
    side: str
    device: str  # the DEV string
    board: str  # its name (INFO)
    folder: Path
    summary: SessionSummary
    start_host_s: float  # host time of the side's t_s = 0
    t_offset_s: float  # add to the side's t_s for the session's shared timeline
    fit: HostFit | None  # the pair's fit of this board's clock (or the recorder's, if narrower)
    pings: int  # of the pair's, on the recording's last segment (boot or restarted stream)
    correction_s: float  # the pair's fit minus the recorder's, at the session's middle


@dataclass
class PairResult:
    folder: Path
    sides: dict[str, SideResult]
    clock: ClockOffset | None
    analysis: dict[str, Any]  # per side: the analysis summary; "symmetry": Symmetry.to_dict()


def wrapped_us(delta_us: float) -> float:
    """A difference of wire ticks brought into [−2**29, 2**29) µs."""
    return (delta_us + _HALF_TICKS_US) % spec.TICKS_PERIOD_US - _HALF_TICKS_US


def clock_offset(left: HostFit, right: HostFit, start_s: float, end_s: float) -> ClockOffset:
    """Right clock minus left clock at the middle of [start_s, end_s] (host time), from each
    board's fit; its uncertainty from each fit's anchor round trip and rate uncertainty."""
    mid = (start_s + end_s) / 2
    delta_us = wrapped_us(right.device_us(mid) - left.device_us(mid))
    sigma = float((left.error_sigma_s(mid) ** 2 + right.error_sigma_s(mid) ** 2) ** 0.5)
    bound = max(left.error_bound_s(t) + right.error_bound_s(t) for t in (start_s, end_s))
    return ClockOffset(delta_us / 1e6, sigma, bound, mid)


def recorded_fit(side_folder: Path) -> HostFit | None:
    """The line the side's recorder put its last segment's rows on, from its session.json
    ("clock": one ClockSummary per segment): host_s = offset_s + device_us · k / 1e6. Its
    window is the round trip of the ping that line rests on (folders from before that was
    written: the best round trip of all the recorder's pings)."""
    meta = json.loads((side_folder / "session.json").read_text())
    clocks = meta.get("clock") or []
    if not clocks or not clocks[-1].get("syncs"):
        return None
    last = clocks[-1]
    k = 1.0 / (1.0 + last["drift_ppm"] / 1e6)
    window_s = last.get("line_round_trip_ms", last["best_round_trip_ms"]) / 1e3
    return HostFit(last["offset_s"], 0.0, k, window_s, UNMEASURED_DRIFT_PPM)


def refit(
    recorded: HostFit, pings: list[tuple[float, float, int]], nominal_period_us: int, mid_s: float
) -> tuple[HostFit, float]:
    """The board's clock fitted again from the pair's pings (host sent, host received, device
    ticks); returns that fit and how much later than the recorder's line it puts the host
    instant of a device time near `mid_s` (what to add to the side's t_s). Ticks wrap, so the
    two fits' device times are related through their host times.

    Pings that leave a wider window than the recorder's line (its ping's round trip) know the
    clock less well than that line: then it stands (correction 0). A saturated PC once gave a side
    one ping, answered 15.5 s after it was sent, whose middle moved that side 7.7 s."""
    fit = bounded_fit(pings, nominal_period_us)
    assert fit is not None
    if fit.round_trip_s >= recorded.round_trip_s:
        return recorded, 0.0
    d_new = fit.device_us(mid_s)
    expected = recorded.device_us(mid_s)
    # The same instant in the recorder's unwrapping: near `expected`, equal modulo the ticks.
    d_old = expected + wrapped_us(d_new - expected)
    recorded_host_s = recorded.host_s_at_anchor + (
        (d_old - recorded.device_us_at_anchor) * recorded.host_per_device / 1e6
    )
    return fit, mid_s - recorded_host_s


def _new_folder(out_dir: Path, started: datetime) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    base = folder_name("pair", started)
    for attempt in range(1, 1000):
        path = out_dir / (base if attempt == 1 else f"{base}-{attempt}")
        with contextlib.suppress(FileExistsError):
            path.mkdir()
            return path
    raise FileExistsError(f"cannot find a free folder name for {base} in {out_dir}")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class PairSession:
    """Two opened devices, recorded together until `duration_s` or request_stop()."""

    def __init__(
        self,
        devices: dict[str, Device],
        out_dir: Path,
        *,
        imu_rate_hz: int | None = None,
        involved: str | None = None,
        dev_strings: dict[str, str] | None = None,
        keep_raw: bool = False,
        labels: Labels | None = None,
    ) -> None:
        if tuple(devices) != SIDES:
            raise ValueError(f"sides {tuple(devices)}: give exactly {SIDES}")
        if involved is not None and involved not in SIDES:
            raise ValueError(f"involved side {involved!r}: use left or right")
        self.devices = devices
        self.out_dir = Path(out_dir)
        self.involved = involved
        self.dev_strings = dev_strings or {s: d.description for s, d in devices.items()}
        self.recorders = {
            side: SessionRecorder(
                device,
                self.out_dir,
                imu_rate_hz=imu_rate_hz,
                keep_raw=keep_raw,
                labels=replace(labels or Labels(), side=side),
            )
            for side, device in devices.items()
        }
        self.folder: Path | None = None
        # (segment of the recording, host sent s, host received s, device ticks)
        self._pings: dict[str, list[tuple[int, float, float, int]]] = {s: [] for s in SIDES}

    def request_stop(self) -> None:
        for recorder in self.recorders.values():
            recorder.request_stop()

    async def run(self, duration_s: float | None = None) -> PairResult:
        await self._both_ready()
        started = datetime.now(UTC)
        start_s = time.monotonic()
        self.folder = folder = _new_folder(self.out_dir, started)
        for recorder in self.recorders.values():
            recorder.out_dir = folder
        self._save({"complete": False, "started_utc": started.isoformat(), **self._devices()})
        summaries = await self._record(duration_s)
        end_s = time.monotonic()
        sides = self._place_sides(folder, summaries, (start_s + end_s) / 2)
        fits = [sides[s].fit for s in SIDES]
        clock = None
        if fits[0] is not None and fits[1] is not None:
            clock = clock_offset(fits[0], fits[1], start_s, end_s)
        outcomes = {side: rec.outcome for side, rec in self.recorders.items()}
        analysis = analyse_sides(outcomes, self.involved)
        result = PairResult(folder, sides, clock, analysis)
        self._save(session_meta(result, started, end_s - start_s, self.involved))
        return result

    async def _both_ready(self) -> None:
        """Both boards answer before either records: a board that cannot be reached leaves no
        half session behind."""
        ready = {
            side: asyncio.create_task(device.wait_ready()) for side, device in self.devices.items()
        }
        await asyncio.gather(*ready.values(), return_exceptions=True)
        self._raise_first_failure(ready)

    async def _record(self, duration_s: float | None) -> dict[str, SessionSummary]:
        """Both recorders at once; if one fails, the other stops cleanly and the error rises."""
        tasks = {
            side: asyncio.create_task(rec.run(duration_s), name=f"record-{side}")
            for side, rec in self.recorders.items()
        }
        pingers = [asyncio.create_task(self._ping(side), name=f"ping-{side}") for side in SIDES]
        try:
            done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
            failed = [t for t in done if not t.cancelled() and t.exception() is not None]
            if failed:
                self.request_stop()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        except asyncio.CancelledError:
            self.request_stop()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        finally:
            for pinger in pingers:
                pinger.cancel()
            await asyncio.gather(*pingers, return_exceptions=True)
        self._raise_first_failure(tasks)
        return {side: task.result() for side, task in tasks.items()}

    def _raise_first_failure(self, tasks: dict[str, asyncio.Task[Any]]) -> None:
        """The first side's failure, a link or board one naming the side and its device."""
        for side, task in tasks.items():
            exc = task.exception()
            if isinstance(exc, DeviceError | TransportError):
                raise TransportError(f"{side} board ({self.dev_strings[side]}): {exc}") from exc
            if exc is not None:
                raise exc

    async def _ping(self, side: str) -> None:
        """Time-sync pings while the board streams, each kept with the boot it reached."""
        recorder, device = self.recorders[side], self.devices[side]
        while True:
            await asyncio.sleep(_PING_EVERY_S)
            log = recorder.log
            if log is None or not log.started or recorder.live.state != "streaming":
                continue
            segment = log.segments  # a reset or a restarted stream starts a new one
            try:
                sync = await asyncio.wait_for(device.time_sync(), _PING_TIMEOUT_S)
            except _LinkErrors:
                continue  # the recorder reconnects; the pings go on after it
            if log.segments == segment:
                self._pings[side].append(
                    (segment, sync.host_sent_s, sync.host_received_s, sync.device_us)
                )

    def _place_sides(
        self, folder: Path, summaries: dict[str, SessionSummary], mid_s: float
    ) -> dict[str, SideResult]:
        """Each board's folder becomes <session>/<side>; their t_s on one timeline."""
        starts = {}
        for side, rec in self.recorders.items():
            assert rec.log is not None and rec.log.start_host_s is not None
            starts[side] = rec.log.start_host_s
        zero = min(starts.values())
        sides = {}
        for side, summary in summaries.items():
            rec = self.recorders[side]
            assert rec.log is not None
            target = folder / side
            summary.folder.rename(target)
            summary.folder = target
            fit = recorded_fit(target)
            # The last segment's: its clock is the last in session.json (one, unless the board
            # reset or its stream was restarted).
            pings = [p[1:] for p in self._pings[side] if p[0] == rec.log.segments]
            correction = 0.0
            if fit is not None and pings:
                period_us = round(1e6 / rec.log.info.imu_rate_hz)
                fit, correction = refit(fit, pings, period_us, mid_s)
            sides[side] = SideResult(
                side=side,
                device=self.dev_strings[side],
                board=rec.log.info.name,
                folder=target,
                summary=summary,
                start_host_s=starts[side],
                t_offset_s=starts[side] - zero + correction,
                fit=fit,
                pings=len(pings),
                correction_s=correction,
            )
        return sides

    def _devices(self) -> dict[str, Any]:
        return {"sides": list(SIDES), "devices": dict(self.dev_strings)}

    def _save(self, meta: dict[str, Any]) -> None:
        assert self.folder is not None
        _write_json(self.folder / "session.json", meta)


def analyse_sides(
    outcomes: dict[str, TrainingOutcome | None], involved: str | None
) -> dict[str, Any]:
    """Each side's analysis (the recorders' own, at the end of their sessions: sets.csv and
    reps.csv are written) and the limb symmetry between them (analysis/form.py)."""
    from .analysis import DEFAULT_SETTINGS
    from .analysis.form import limb_symmetry

    out: dict[str, Any] = {}
    reps = {}
    for side, outcome in outcomes.items():
        if outcome is None or outcome.analysis is None:
            out[side] = {"skipped": outcome.skipped if outcome else "not recorded"}
            continue
        out[side] = {"sets": outcome.sets, "reps": outcome.reps, "flags": list(outcome.flags)}
        reps[side] = [rep for rep_set in outcome.analysis.sets for rep in rep_set.reps]
    if len(reps) < 2:
        out["symmetry"] = None
        return out
    sym = limb_symmetry(reps["left"], reps["right"], DEFAULT_SETTINGS, involved)
    flags = list(sym.flags)
    empty = [side for side in SIDES if not reps[side]]
    if empty:
        flags.append(f"no reps on the {' and '.join(empty)} side: symmetry needs both")
    out["symmetry"] = {
        "involved": involved,
        "formula": f"{involved} / {'right' if involved == 'left' else 'left'} x 100"
        if involved
        else "weaker side / stronger side x 100",
        "reps": {"left": sym.left_reps, "right": sym.right_reps},
        "metrics": [
            {
                "name": m.name,
                "unit": m.unit,
                "left": round(m.left, 3),
                "right": round(m.right, 3),
                "lsi_pct": round(m.lsi_pct, 3),
                "weaker": m.weaker,
            }
            for m in sym.metrics
        ],
        "flags": flags,
    }
    return out


def session_meta(
    result: PairResult, started: datetime, duration_s: float, involved: str | None
) -> dict[str, Any]:
    """The parent session.json."""
    sides = {}
    for side, r in result.sides.items():
        s = r.summary
        sides[side] = {
            "device": r.device,
            "board": r.board,
            "folder": side,
            "t_offset_s": round(r.t_offset_s, 6),
            "samples": s.samples,
            "lost": s.lost,
            "completeness_pct": round(s.completeness_pct, 4),
            "clock_fit": None
            if r.fit is None
            else {
                "pings": r.pings,
                "correction_ms": round(r.correction_s * 1e3, 3),
                "window_ms": round(r.fit.round_trip_s * 1e3, 3),
                "drift_ppm": round((1 / r.fit.host_per_device - 1) * 1e6, 3),
                "drift_uncertainty_ppm": round(r.fit.drift_uncertainty_ppm, 3),
            },
        }
    clock = None
    if result.clock is not None:
        clock = {
            "right_minus_left_s": round(result.clock.right_minus_left_s, 6),
            "uncertainty_s": round(result.clock.uncertainty_s, 6),
            "bound_s": round(result.clock.bound_s, 6),
            "what": "the right board's clock minus the left board's at the same host instant "
            "(the session's middle), from each board's fit to the host clock; uncertainty: one "
            "standard deviation, bound: the largest error anywhere in the session",
        }
    return {
        "complete": True,
        "started_utc": started.isoformat(),
        "duration_s": round(duration_s, 3),
        "sides": list(SIDES),
        "devices": {side: r.device for side, r in result.sides.items()},
        "involved": involved,
        "timeline": "each side's t_s + its t_offset_s: one host clock for both sides "
        "(t_offset_s includes correction_ms: the pair's clock fit against the recorder's)",
        "side": sides,
        "clock_offset": clock,
        "analysis": result.analysis,
    }


async def record_pair(
    devs: dict[str, str],
    out_dir: Path,
    *,
    duration_s: float | None = None,
    imu_rate_hz: int | None = None,
    involved: str | None = None,
    sim_motions: dict[str, str] | None = None,
    ble_backend: str | None = None,
    keep_raw: bool = False,
    labels: Labels | None = None,
    on_start: Callable[[PairSession], None] | None = None,
) -> PairResult:
    """Open both boards (DEV strings by side), record them together, analyse both sides.

    `sim_motions`: simulated boards' motion by side (default: the demo's leg raises).
    `labels` (exercise, athlete, load, note) go in both sides' session.json, each with its side.
    `on_start(pair)` is called once both are open (the CLI hooks its live display and Ctrl-C
    there)."""
    motions = {side: DEFAULT_SIM_MOTION for side in SIDES} | (sim_motions or {})
    async with contextlib.AsyncExitStack() as stack:
        devices = {}
        for side in SIDES:
            devices[side] = await stack.enter_async_context(
                open_device(devs[side], sim_motion=motions[side], ble_backend=ble_backend)
            )
        pair = PairSession(
            devices,
            out_dir,
            imu_rate_hz=imu_rate_hz,
            involved=involved,
            dev_strings=devs,
            keep_raw=keep_raw,
            labels=labels,
        )
        if on_start is not None:
            on_start(pair)
        return await pair.run(duration_s)


__all__ = ["SIDES", "ClockOffset", "PairResult", "PairSession", "SideResult", "record_pair"]
