"""Linear-phase moving means (FIR, centred), the only smoothing the detector uses.

    smooth = moving_mean(x, 25)    # 25-sample centred mean, edges averaged over what exists

Centred FIR filters delay nothing offline and a fixed half-window online, so the online detector
sees exactly the values the offline one does once that half-window has arrived.
"""

from __future__ import annotations

import numpy as np

from anklet.analysis.loading import FloatArray


def moving_mean(x: FloatArray, width: int) -> FloatArray:
    """Centred mean over `width` samples (odd-rounded) along axis 0; shrinks at the edges."""
    half = max(int(width) // 2, 0)
    if half == 0 or len(x) == 0:
        return x.astype(np.float64, copy=True)
    arr = x.reshape(len(x), -1).astype(np.float64)
    csum = np.zeros((len(arr) + 1, arr.shape[1]))
    np.cumsum(arr, axis=0, out=csum[1:])
    idx = np.arange(len(arr))
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, len(arr))
    out = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    return out.reshape(x.shape)
