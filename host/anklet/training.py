"""A session's training, live and at the end: the rows written go to the online detectors and
are kept, so the final analysis runs on the same arrays as `samples.csv` holds, without reading
it back.

    training = SessionTraining(accel_range_g=8, source=folder / "samples.csv")
    training.subscribe(lambda event: print(event))   # RepEnded / JumpLanded, as they happen
    training.add_rows(t_s, imu_si, force_n)          # SessionLog's on_rows: the rows as written
    outcome = training.finish(rows_on_disk)          # analyze() on them == analyze_csv(samples.csv)
    outcome.write(folder_path)                       # sets.csv, reps.csv (jumps.csv)

Live counts are provisional (a lone movement counts until the end drops it); the outcome of
`finish` is the session's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from anklet_protocol import layout

from anklet.analysis import (
    DEFAULT_SETTINGS,
    AnalysisInputError,
    ImuRecording,
    Jump,
    OnlineJumpDetector,
    OnlineRepDetector,
    Rep,
    SessionAnalysis,
    Settings,
    analyze,
    write_session_tables,
)
from anklet.analysis.targets import DEFAULT_TARGETS, FormTargets
from anklet.device import DeviceInfo
from anklet.session import SessionLog

logger = logging.getLogger(__name__)

_COLUMNS = 2 + layout.IMU_WIDTH  # t_s, the IMU channels in SI units, force_n


@dataclass(frozen=True)
class RepEnded:
    """A rep came back to rest (about 0.1 s after its end). `set_number` is live numbering: a
    new set begins after more than the settings' set gap without a rep."""

    set_number: int
    rep_number: int  # within its set
    reps_total: int
    # rom_deg, concentric_mean_velocity_dps (lifting speed), concentric_s / hold_s /
    # eccentric_s (tempo up / hold / down), peak_force_n ...: analysis.results.Rep
    rep: Rep


@dataclass(frozen=True)
class JumpLanded:
    """A jump's landing window has been seen (its series, contact time and RSI come at the end)."""

    jumps_total: int
    jump: Jump


TrainingEvent = RepEnded | JumpLanded
Listener = Callable[[TrainingEvent], None]


@dataclass
class LiveTraining:
    """What the session looks like so far (provisional)."""

    sets: int = 0
    reps: int = 0
    jumps: int = 0
    last_rep: Rep | None = None
    paused: str = ""  # why the live detectors stopped (the recording and the end's analysis go on)


@dataclass(frozen=True)
class TrainingOutcome:
    """The analysis at the end of a session, or why there is none."""

    analysis: SessionAnalysis | None
    skipped: str = ""  # why there is no analysis (too short, ...)

    @property
    def sets(self) -> int:
        return self.analysis.set_count if self.analysis else 0

    @property
    def reps(self) -> int:
        return self.analysis.total_reps if self.analysis else 0

    @property
    def jumps(self) -> int:
        return self.analysis.total_jumps if self.analysis else 0

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(self.analysis.flags) if self.analysis else ()

    def write(self, folder: Path) -> str:
        """sets.csv and reps.csv (and jumps.csv), also empty: a session folder always has them.
        Returns '' or why they could not be written (a full disk)."""
        try:
            write_session_tables(self.analysis or _EMPTY, folder)
        except OSError as exc:
            return f"sets.csv/reps.csv not written: {exc.strerror or exc}"
        return ""

    def summary(self) -> dict[str, Any]:
        """For session.json: counts, flags, and each set's metrics (reps.csv has every rep)."""
        if self.analysis is None:
            return {"skipped": self.skipped, "sets": 0, "reps": 0, "jumps": 0, "flags": []}
        result = self.analysis.to_dict()
        for rep_set in result["sets"]:
            rep_set.pop("reps")
        for series in result["jump_series"]:
            series.pop("jumps")
        return {
            "sets": self.sets,
            "reps": self.reps,
            "jumps": self.jumps,
            "flags": list(self.flags),
            "per_set": result["sets"],
            "jump_series": result["jump_series"],
        }


_EMPTY = SessionAnalysis(source="", rate_hz=0.0, duration_s=0.0, sets=[], total_reps=0, flags=[])


def conclude(training: SessionTraining, log: SessionLog) -> TrainingOutcome:
    """The end of a session (live or decoded), after `log.finish`: analyse the rows on disk,
    write the tables beside them and put the summary in the log's session.json."""
    outcome = training.finish(log.samples_written)
    summary = outcome.summary()
    if problem := outcome.write(log.folder.path):
        summary["tables_error"] = problem
        logger.error("%s", problem)
    log.annotate("analysis", summary)
    return outcome


class _Rows:
    """The session's rows, growing: (n, _COLUMNS) float64, doubled when full."""

    def __init__(self) -> None:
        self._data = np.empty((4096, _COLUMNS))
        self.n = 0

    def extend(self, t_s: np.ndarray, imu: np.ndarray, force_n: np.ndarray) -> None:
        need = self.n + len(t_s)
        if need > len(self._data):
            bigger = np.empty((max(need, 2 * len(self._data)), _COLUMNS))
            bigger[: self.n] = self._data[: self.n]
            self._data = bigger
        rows = self._data[self.n : need]
        rows[:, 0] = t_s
        rows[:, 1:-1] = imu
        rows[:, -1] = force_n
        self.n = need

    def view(self, count: int) -> np.ndarray:
        return self._data[: min(count, self.n)]


@dataclass
class SessionTraining:
    """Live rep and jump detection over a session's rows, and its analysis at the end."""

    accel_range_g: float | None = None  # the board's range: the clipped-landing check uses it
    source: str = "live"  # names the rows in messages (the session's samples.csv)
    settings: Settings = DEFAULT_SETTINGS
    live: LiveTraining = field(default_factory=LiveTraining)
    targets: FormTargets = DEFAULT_TARGETS  # the exercise's tempo, for the final form flags

    @classmethod
    def for_session(cls, info: DeviceInfo, folder: Path) -> SessionTraining:
        """For a session folder of this board: its accelerometer range, its samples.csv."""
        return cls(accel_range_g=float(info.accel_fs_g), source=str(folder / "samples.csv"))

    def attach(self, info: DeviceInfo, folder: Path) -> None:
        """The session's board and folder, once known (listeners may subscribe before)."""
        self.accel_range_g = float(info.accel_fs_g)
        self.source = str(folder / "samples.csv")

    def __post_init__(self) -> None:
        self._rows = _Rows()
        self._reps = OnlineRepDetector(self.settings, source=self.source)
        self._jumps = OnlineJumpDetector(self.settings)
        self._listeners: list[Listener] = []
        self._set_reps = 0
        self._last_rep_end_s = -np.inf

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every RepEnded and JumpLanded; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def rows(self) -> int:
        return self._rows.n

    def add_rows(self, t_s: np.ndarray, imu: np.ndarray, force_n: np.ndarray) -> None:
        """Rows as written to samples.csv, in order: t_s (n,), imu (n, IMU_WIDTH) SI, force_n."""
        self._rows.extend(t_s, imu, force_n)
        if self.live.paused:
            return
        acc, gyro = imu[:, layout.ACCEL], imu[:, layout.GYRO]
        try:
            reps = self._reps.feed(t_s, acc, gyro, force_n)
            jumps = self._jumps.feed(t_s, acc, gyro)
        except Exception as exc:  # live counts are a convenience: never stop the recording
            self.live.paused = f"live analysis stopped: {exc}"
            logger.warning("%s", self.live.paused)
            return
        for rep in reps:
            self._on_rep(rep)
        for jump in jumps:
            self.live.jumps += 1
            self._emit(JumpLanded(self.live.jumps, jump))

    def _on_rep(self, rep: Rep) -> None:
        live = self.live
        if live.sets == 0 or rep.start_s - self._last_rep_end_s > self.settings.set_gap_s:
            live.sets += 1
            self._set_reps = 0
        self._set_reps += 1
        self._last_rep_end_s = max(self._last_rep_end_s, rep.end_s)
        live.reps += 1
        live.last_rep = rep
        self._emit(RepEnded(live.sets, self._set_reps, live.reps, rep))

    def _emit(self, event: TrainingEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a display's bug must not end the recording
                logger.exception("training listener failed on %s", type(event).__name__)

    def finish(self, rows: int | None = None) -> TrainingOutcome:
        """The offline analysis of the first `rows` rows (those on disk; default all)."""
        data = self._rows.view(self._rows.n if rows is None else rows)
        force = data[:, -1]
        rec = ImuRecording(
            t_s=np.ascontiguousarray(data[:, 0]),
            acc_ms2=np.ascontiguousarray(data[:, 1:-1][:, layout.ACCEL]),
            gyro_dps=np.ascontiguousarray(data[:, 1:-1][:, layout.GYRO]),
            force_n=force.copy() if np.any(np.isfinite(force)) else None,
            accel_range_g=self.accel_range_g,
        )
        try:
            result = analyze(rec, self.settings, source=self.source, targets=self.targets)
            return TrainingOutcome(result)
        except AnalysisInputError as exc:
            return TrainingOutcome(None, skipped=str(exc))


def reanalyse_folder(folder: Path) -> TrainingOutcome:
    """A session folder analysed again from its samples.csv against its labels' exercise (after
    `anklet label` changed it): the tables rewritten, session.json's "analysis" replaced."""
    from anklet.analysis import read_imu_csv
    from anklet.analysis.targets import targets_for
    from anklet.labels import read_labels, read_session_json, write_session_json

    labels = read_labels(folder)
    try:
        rec = read_imu_csv(folder / "samples.csv")
        result = analyze(
            rec, source=str(folder / "samples.csv"), targets=targets_for(labels.exercise)
        )
        outcome = TrainingOutcome(result)
    except AnalysisInputError as exc:
        outcome = TrainingOutcome(None, skipped=str(exc))
    summary = outcome.summary()
    if problem := outcome.write(folder):
        summary["tables_error"] = problem
    meta = read_session_json(folder)
    meta["analysis"] = summary
    write_session_json(folder, meta)
    return outcome
