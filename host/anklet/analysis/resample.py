"""Bring any sample rate (25–1000 Hz, jittery clocks) onto the fixed working grid of the detector.

    grid = to_working_grid(rec)            # 50 Hz, boxcar anti-aliasing, impact peaks kept
    grid.t_s, grid.acc_ms2, grid.gyro_dps, grid.impact_ms2

The detector's filters are designed once, in samples of this grid, so the same thresholds hold at
every input rate. Each grid value is the mean of the input over its cell (the integral of the
piecewise-linear signal, read from a cumulative trapezoid), which is the anti-aliasing filter when
decimating and plain linear interpolation when the input is slower than the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anklet.analysis.loading import FloatArray, ImuRecording

WORKING_RATE_HZ = 50.0
GRAVITY_MS2 = 9.80665


@dataclass(frozen=True)
class WorkingGrid:
    t_s: FloatArray  # on the input file's clock
    acc_ms2: FloatArray  # (m, 3)
    gyro_dps: FloatArray  # (m, 3)
    force_n: FloatArray | None  # NaN where no load sample was in the cell
    impact_ms2: FloatArray  # max | |acc| - g | of the input samples in each cell (keeps peaks)
    rate_hz: float = WORKING_RATE_HZ


def grid_times(t0_s: float, t_end_s: float, rate_hz: float = WORKING_RATE_HZ) -> FloatArray:
    count = int(np.floor((t_end_s - t0_s) * rate_hz + 1e-9)) + 1
    return t0_s + np.arange(count) / rate_hz


def cell_means(t_s: FloatArray, x: FloatArray, centres_s: FloatArray, half_s: float) -> FloatArray:
    """Mean of the piecewise-linear x(t) over [c - half, c + half] for each centre (x is (n, k))."""
    steps = np.diff(t_s)[:, None]
    integral = np.empty_like(x)
    integral[0] = 0.0
    np.cumsum(0.5 * (x[1:] + x[:-1]) * steps, axis=0, out=integral[1:])
    lo = np.clip(centres_s - half_s, t_s[0], t_s[-1])
    hi = np.clip(centres_s + half_s, t_s[0], t_s[-1])
    width = hi - lo
    out = np.empty((len(centres_s), x.shape[1]))
    for k in range(x.shape[1]):
        a = np.interp(lo, t_s, integral[:, k])
        b = np.interp(hi, t_s, integral[:, k])
        point = np.interp(centres_s, t_s, x[:, k])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(width > 1e-12, (b - a) / np.maximum(width, 1e-12), point)
    return out


def cell_max(t_s: FloatArray, x: FloatArray, centres_s: FloatArray, half_s: float) -> FloatArray:
    """Max of x over the input samples in each cell; the interpolated value if a cell is empty."""
    start = np.searchsorted(t_s, centres_s - half_s, side="left")
    stop = np.searchsorted(t_s, centres_s + half_s, side="left")
    out = np.interp(centres_s, t_s, x)
    has = stop > start
    if np.any(has):
        # Cells tile the time axis, so each non-empty cell runs from its start to the next
        # non-empty cell's start: reduceat's segments, once x is cut at the last cell's stop.
        red = np.maximum.reduceat(x[: int(stop[has][-1])], start[has])
        out[has] = np.maximum(out[has], red)
    return out


def to_working_grid(rec: ImuRecording, rate_hz: float = WORKING_RATE_HZ) -> WorkingGrid:
    t = grid_times(float(rec.t_s[0]), float(rec.t_s[-1]), rate_hz)
    half = 0.5 / rate_hz
    both = np.hstack([rec.acc_ms2, rec.gyro_dps])
    means = cell_means(rec.t_s, both, t, half)
    dev = np.abs(np.linalg.norm(rec.acc_ms2, axis=1) - GRAVITY_MS2)
    impact = cell_max(rec.t_s, dev, t, half)
    force = None
    if rec.force_n is not None:
        ok = np.isfinite(rec.force_n)
        if np.count_nonzero(ok) >= 2:
            f = cell_means(rec.t_s[ok], rec.force_n[ok][:, None], t, half)[:, 0]
            f[(t < rec.t_s[ok][0]) | (t > rec.t_s[ok][-1])] = np.nan
            force = f
    return WorkingGrid(
        t_s=t,
        acc_ms2=np.ascontiguousarray(means[:, :3]),
        gyro_dps=np.ascontiguousarray(means[:, 3:]),
        force_n=force,
        impact_ms2=impact,
        rate_hz=rate_hz,
    )
