"""The offline analysis: samples in, sets and reps with metrics out.

    result = analyze(rec)                   # an ImuRecording (see loading.py)
    result = analyze_csv(Path("samples.csv"))

Steps: working grid (resample.py) -> gyro bias from still samples -> bouts (bouts.py) -> per
bout: axis and angle (axis.py), reps (reps.py) -> sets (sets.py) -> metrics (metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anklet.analysis.axis import integrated_angle, principal_axis
from anklet.analysis.bouts import activity_mask, bouts
from anklet.analysis.gait import gait_mask
from anklet.analysis.loading import FloatArray, ImuRecording, check_recording, read_imu_csv
from anklet.analysis.reps import RepSpan, find_reps
from anklet.analysis.resample import WorkingGrid, to_working_grid
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings


@dataclass(frozen=True)
class BoutTrace:
    """One bout on the working grid: its axis and angle; reps index into it via `offset`."""

    offset: int  # first grid sample of the bout
    axis: FloatArray  # unit vector in the sensor frame, sign: lifting is positive rotation
    angle_deg: FloatArray
    rate_dps: FloatArray  # angular velocity about the axis, lifting positive
    spans: list[RepSpan] = field(default_factory=list)


def gyro_bias(gyro_dps: FloatArray, active: np.ndarray) -> FloatArray:
    """Median angular velocity over the still samples: the gyro's offset, if enough of them."""
    still = ~active
    if np.count_nonzero(still) < 10:
        return np.zeros(3)
    return np.median(gyro_dps[still], axis=0)


def analyse_bout(
    grid: WorkingGrid,
    gyro_dps: FloatArray,
    start: int,
    stop: int,
    active: np.ndarray,
    gait: np.ndarray,
    s: Settings,
) -> BoutTrace:
    g = gyro_dps[start:stop]
    g = g - gyro_bias(g, active[start:stop])
    axis = principal_axis(g, active[start:stop].astype(np.float64))
    angle = integrated_angle(g, axis, grid.rate_hz)
    rate = g @ axis
    spans = find_reps(angle, rate, gait[start:stop], grid.rate_hz, s)
    if spans and spans[0].polarity < 0:
        axis, angle, rate = -axis, -angle, -rate
    return BoutTrace(offset=start, axis=axis, angle_deg=angle, rate_dps=rate, spans=spans)


def detect(grid: WorkingGrid, s: Settings = DEFAULT_SETTINGS) -> list[BoutTrace]:
    active = activity_mask(grid.gyro_dps, grid.rate_hz, s)
    gait = gait_mask(grid.impact_ms2, grid.rate_hz, s)
    return [
        analyse_bout(grid, grid.gyro_dps, a, b, active, gait, s)
        for a, b in bouts(active, grid.rate_hz, s)
    ]


def analyze_recording_spans(
    rec: ImuRecording, s: Settings = DEFAULT_SETTINGS
) -> tuple[WorkingGrid, list[BoutTrace]]:
    check_recording(rec)
    grid = to_working_grid(rec)
    return grid, detect(grid, s)


def analyze_csv_spans(
    path: Path, s: Settings = DEFAULT_SETTINGS
) -> tuple[WorkingGrid, list[BoutTrace]]:
    return analyze_recording_spans(read_imu_csv(path), s)
