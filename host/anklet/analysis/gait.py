"""Impacts and gait: heel strikes and landings, found from peaks of the acceleration magnitude.

    peaks = impact_peaks(impact_ms2, rate_hz, threshold_ms2)     # sample indices
    mask = gait_mask(impact_ms2, speed_dps, rate_hz, settings)   # True while walking/running

Walking, running and hopping load the ankle with a train of impacts one stride apart (0.6-1.5 s);
a strength rep lands at most once, when the leg is set down. A fast set can land as often as a
stride, but a leg set down on a surface comes to rest there, while after a heel strike the
shank keeps turning over the planted foot (stance): only strikes followed by rotation count.
The same peaks will give ground-contact and flight times for jumps and sprints.
"""

from __future__ import annotations

import numpy as np

from anklet.analysis.loading import FloatArray
from anklet.analysis.settings import Settings

_STANCE_FROM_S = 0.1  # after a strike, the shank's rotation over the planted foot is measured
_STANCE_TO_S = 0.3  # over this window (stance lasts ~0.6 s walking, ~0.25 s running)


def impact_peaks(impact_ms2: FloatArray, rate_hz: float, threshold_ms2: float) -> np.ndarray:
    """Local maxima above the threshold, at least 0.25 s apart (one per foot strike)."""
    x = impact_ms2
    if len(x) < 3:
        return np.zeros(0, dtype=np.int64)
    cand = np.flatnonzero((x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:]) & (x[1:-1] > threshold_ms2)) + 1
    if cand.size == 0:
        return cand
    min_gap = max(round(0.25 * rate_hz), 1)
    keep = [int(cand[0])]
    for i in cand[1:].tolist():
        if i - keep[-1] >= min_gap:
            keep.append(i)
        elif x[i] > x[keep[-1]]:
            keep[-1] = i
    return np.asarray(keep, dtype=np.int64)


def gait_mask(
    impact_ms2: FloatArray, speed_dps: FloatArray, rate_hz: float, settings: Settings
) -> np.ndarray:
    """True over runs of >= gait_min_strikes impacts each within gait_max_stride_s of the last,
    each followed by rotation (`speed_dps`, |gyro|, over the stance after it)."""
    mask = np.zeros(len(impact_ms2), dtype=bool)
    peaks = impact_peaks(impact_ms2, rate_hz, settings.gait_impact_ms2)
    lo = max(round(_STANCE_FROM_S * rate_hz), 1)
    hi = max(round(_STANCE_TO_S * rate_hz), lo + 1)
    csum = np.concatenate([[0.0], np.cumsum(speed_dps)])
    a = np.minimum(peaks + lo, len(speed_dps))
    b = np.minimum(peaks + hi, len(speed_dps))
    turning = (csum[b] - csum[a]) > settings.active_dps * np.maximum(b - a, 1)
    peaks = peaks[turning]
    if peaks.size < settings.gait_min_strikes:
        return mask
    max_gap = settings.gait_max_stride_s * rate_hz
    breaks = np.flatnonzero(np.diff(peaks) > max_gap)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks + 1, [peaks.size]])
    pad = round(0.5 * settings.gait_max_stride_s * rate_hz)  # the swing before a strike
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        if b - a >= settings.gait_min_strikes:
            mask[max(int(peaks[a]) - pad, 0) : int(peaks[b - 1]) + pad + 1] = True
    return mask
