"""Split a recording into bouts of movement separated by long stillness.

    active = activity_mask(gyro_dps, rate_hz, settings)
    for start, stop in bouts(active, rate_hz, settings): ...   # sample ranges, stop exclusive

A bout shares one rotation axis and one angle trace. It ends only after `bout_gap_s` of stillness,
longer than any hold at the top of a rep, so a rep never straddles two bouts.
"""

from __future__ import annotations

import numpy as np

from anklet.analysis.filters import moving_mean
from anklet.analysis.loading import FloatArray
from anklet.analysis.settings import Settings

BOUT_PAD_S = 1.0  # stillness kept on each side of a bout: the rest level before and after


def activity_mask(gyro_dps: FloatArray, rate_hz: float, settings: Settings) -> np.ndarray:
    speed = np.linalg.norm(gyro_dps, axis=1)
    width = max(round(settings.active_smooth_s * rate_hz), 1)
    return moving_mean(speed, width) > settings.active_dps


def bouts(active: np.ndarray, rate_hz: float, settings: Settings) -> list[tuple[int, int]]:
    """Sample ranges [start, stop) of the bouts, padded with up to BOUT_PAD_S of rest."""
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return []
    gap = round(settings.bout_gap_s * rate_hz)
    breaks = np.flatnonzero(np.diff(idx) > gap)
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]])
    pad = round(BOUT_PAD_S * rate_hz)
    n = len(active)
    return [
        (max(int(a) - pad, 0), min(int(b) + 1 + pad, n)) for a, b in zip(firsts, lasts, strict=True)
    ]
