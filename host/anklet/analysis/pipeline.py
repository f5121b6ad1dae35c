"""The offline analysis: samples in, sets and reps with metrics out.

    result = analyze_csv(Path("samples.csv"))
    result = analyze(rec)                       # an ImuRecording (see loading.py)
    grid, bouts = detect_bouts(to_working_grid(rec))   # the traces, for plots

Steps: working grid (resample.py) -> activity and bouts (bouts.py) -> per bout: gyro offset,
axis and angle (axis.py), gait (gait.py), reps (reps.py) -> sets (sets.py) -> metrics.
Each bout is analysed from its own samples only, which is what lets the online detector
(online.py) reach exactly the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from anklet.analysis.axis import integrated_angle, principal_axis
from anklet.analysis.bouts import activity_mask, bouts
from anklet.analysis.form import add_form_flags
from anklet.analysis.gait import gait_mask
from anklet.analysis.jumps import accel_range_ms2, clipping_flag, find_jumps
from anklet.analysis.loading import FloatArray, ImuRecording, check_recording, read_imu_csv
from anklet.analysis.metrics import rep_metrics, session_flags, set_metrics
from anklet.analysis.reps import RepSpan, find_reps
from anklet.analysis.resample import WorkingGrid, to_working_grid
from anklet.analysis.results import Rep, RepSet, SessionAnalysis
from anklet.analysis.sets import group_sets
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings
from anklet.analysis.targets import DEFAULT_TARGETS, FormTargets

NO_GYRO_NOTE = (
    "no gyroscope data: reps are counted from the leg's rotation and need it; "
    "jumps are found from the accelerometer alone."
)


@dataclass(frozen=True)
class BoutTrace:
    """One bout on the working grid: its axis and angle; span indices are relative to `offset`."""

    offset: int  # first grid sample of the bout
    axis: FloatArray  # unit vector in the sensor frame; lifting is a positive rotation about it
    angle_deg: FloatArray
    rate_dps: FloatArray  # angular velocity about the axis, lifting positive
    gyro_dps: FloatArray  # (n, 3), offset removed
    spans: list[RepSpan] = field(default_factory=list)


def gyro_bias(gyro_dps: FloatArray, active: np.ndarray) -> FloatArray:
    """Median angular velocity over the still samples: the gyro's offset, if enough of them."""
    still = ~active
    if np.count_nonzero(still) < 10:
        return np.zeros(3)
    return np.median(gyro_dps[still], axis=0)


def analyse_bout(
    grid: WorkingGrid, start: int, stop: int, active: np.ndarray, s: Settings
) -> BoutTrace:
    """Axis, angle and reps of grid samples [start, stop) (`active` is the bout's own mask)."""
    g = grid.gyro_dps[start:stop]
    g = g - gyro_bias(g, active)
    axis = principal_axis(g, active.astype(np.float64))
    angle = integrated_angle(g, axis, grid.rate_hz)
    rate = g @ axis
    gait = gait_mask(grid.impact_ms2[start:stop], np.linalg.norm(g, axis=1), grid.rate_hz, s)
    spans = find_reps(angle, rate, gait, grid.rate_hz, s)
    if spans and spans[0].polarity < 0:
        axis, angle, rate = -axis, -angle, -rate
    return BoutTrace(
        offset=start, axis=axis, angle_deg=angle, rate_dps=rate, gyro_dps=g, spans=spans
    )


def detect_bouts(grid: WorkingGrid, s: Settings = DEFAULT_SETTINGS) -> list[BoutTrace]:
    active = activity_mask(grid.gyro_dps, grid.rate_hz, s)
    return [analyse_bout(grid, a, b, active[a:b], s) for a, b in bouts(active, grid.rate_hz, s)]


def bout_reps(grid: WorkingGrid, bout: BoutTrace) -> list[Rep]:
    """Metrics of every rep span of a bout (indices 0: numbered once grouped into sets)."""
    n = len(bout.angle_deg)
    t = grid.t_s[bout.offset : bout.offset + n]
    force = None if grid.force_n is None else grid.force_n[bout.offset : bout.offset + n]
    return [
        rep_metrics(bout.angle_deg, bout.rate_dps, bout.gyro_dps, bout.axis, t, force, sp, 0)
        for sp in bout.spans
    ]


def assemble(
    reps: list[Rep],
    s: Settings,
    *,
    source: str,
    rate_hz: float,
    duration_s: float,
    planned_sets: int | None = None,
    targets: FormTargets = DEFAULT_TARGETS,
) -> SessionAnalysis:
    """Group reps (any order) into sets, number them, and compute set and session metrics;
    form flags against `targets` (the exercise's tempo, a target range)."""
    reps = sorted(reps, key=lambda r: r.start_s)
    groups = group_sets([r.start_s for r in reps], [r.end_s for r in reps], s)
    sets: list[RepSet] = []
    for set_index, group in enumerate(groups, start=1):
        numbered = [_renumber(reps[i], k) for k, i in enumerate(group, start=1)]
        sets.append(set_metrics(set_index, numbered, s))
    add_form_flags(sets, targets, s)
    return SessionAnalysis(
        source=source,
        rate_hz=rate_hz,
        duration_s=duration_s,
        sets=sets,
        total_reps=sum(x.rep_count for x in sets),
        flags=session_flags(sets, planned_sets),
    )


def _renumber(rep: Rep, index: int) -> Rep:
    return replace(rep, index=index)


def analyze(
    rec: ImuRecording,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    source: str = "input",
    planned_sets: int | None = None,
    targets: FormTargets = DEFAULT_TARGETS,
) -> SessionAnalysis:
    """Sets, reps and metrics of one recording; form flags against `targets`."""
    check_recording(rec, source)
    reps: list[Rep] = []
    if rec.has_gyro:
        grid = to_working_grid(rec)
        reps = [r for bout in detect_bouts(grid, settings) for r in bout_reps(grid, bout)]
    result = assemble(
        reps,
        settings,
        source=source,
        rate_hz=rec.rate_hz,
        duration_s=rec.duration_s,
        planned_sets=planned_sets,
        targets=targets,
    )
    if not rec.has_gyro:
        result = replace(result, flags=[NO_GYRO_NOTE, *result.flags])
    return with_jumps(result, rec, settings)


def with_jumps(result: SessionAnalysis, rec: ImuRecording, s: Settings) -> SessionAnalysis:
    """Add the recording's jumps (found at its own rate, not on the grid) and their flags."""
    series = find_jumps(rec, s)
    if not series:
        return result
    flags = [f for x in series for f in x.flags] + clipping_flag(series, accel_range_ms2(rec))
    return replace(
        result,
        jump_series=series,
        total_jumps=sum(x.jump_count for x in series),
        flags=result.flags + flags,
    )


def analyze_arrays(
    acc_ms2: FloatArray,
    gyro_dps: FloatArray,
    *,
    rate_hz: float | None = None,
    t_s: FloatArray | None = None,
    force_n: FloatArray | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> SessionAnalysis:
    """`analyze` for bare arrays: give the sample clock `t_s`, or a constant `rate_hz`."""
    if t_s is None:
        if rate_hz is None or rate_hz <= 0:
            raise ValueError("give t_s or a positive rate_hz")
        t_s = np.arange(len(acc_ms2)) / rate_hz
    rec = ImuRecording(
        t_s=np.asarray(t_s, dtype=np.float64),
        acc_ms2=np.asarray(acc_ms2, dtype=np.float64),
        gyro_dps=np.asarray(gyro_dps, dtype=np.float64),
        force_n=None if force_n is None else np.asarray(force_n, dtype=np.float64),
    )
    return analyze(rec, settings, source="arrays")


def analyze_csv(
    path: Path,
    settings: Settings = DEFAULT_SETTINGS,
    *,
    planned_sets: int | None = None,
    targets: FormTargets = DEFAULT_TARGETS,
) -> SessionAnalysis:
    return analyze(
        read_imu_csv(path), settings, source=str(path), planned_sets=planned_sets, targets=targets
    )
