"""Find repetitions in one bout's angle trace: excursions from rest and back, holds included.

    spans = find_reps(angle_deg, rate_dps, gait, rate_hz, settings)
    spans[0].start, spans[0].top, spans[0].end          # sample indices into the bout

1. Turning points: the angle's alternating extremes, each reversal at least `reversal_deg`.
2. Polarity: the bout starts at rest, so its first full swing is a lift (concentric positive).
3. A rep runs from a low turning point over its highest point back down, and ends only at the
   first low that has returned `return_fraction` of the way: a dip during a hold is not an end.
4. A rep must look like deliberate work: enough range (absolute and relative to its neighbours),
   enough peak angular velocity, a plausible duration, and not while walking (`gait` mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anklet.analysis.loading import FloatArray
from anklet.analysis.settings import Settings

EDGE_FRACTION = 0.1  # a phase starts/ends where its angular velocity is below 10 % of its peak
_SWING_PERCENTILE = 5  # a bout's typical swing: between these percentiles of its angle ...
_FIRST_SWING_FRACTION = 0.5  # ... and its first lift goes at least this fraction of it


@dataclass(frozen=True)
class RepSpan:
    """Sample indices in the bout's trace; `polarity` * angle rises during the lift."""

    start: int  # leaves rest
    concentric_end: int  # reaches the top (start of the hold)
    top: int  # turnaround: highest point
    eccentric_start: int  # leaves the top
    end: int  # back at rest
    rom_deg: float
    polarity: int


def turning_points(angle_deg: FloatArray, reversal_deg: float) -> tuple[list[int], list[int]]:
    """Alternating extremes of the trace (indices, kinds +1 max / -1 min), zig-zag with hysteresis.

    The first point is the trace's start (its kind set by the first swing); the last extreme is
    confirmed only once the trace has reversed by `reversal_deg` from it, which is what lets the
    online detector call a turnaround as soon as the data show it. The extreme still being
    tracked at the end of the data is appended as a provisional last point.
    """
    x = angle_deg.tolist()
    idx: list[int] = []
    kinds: list[int] = []
    hi_i = lo_i = 0
    hi = lo = x[0] if x else 0.0
    direction = 0  # +1 rising (tracking a max), -1 falling (tracking a min), 0 not yet known
    for i, v in enumerate(x):
        if direction >= 0 and v > hi:
            hi, hi_i = v, i
        if direction <= 0 and v < lo:
            lo, lo_i = v, i
        if direction >= 0 and hi - v >= reversal_deg:
            if direction == 0 and lo_i < hi_i:
                idx.append(lo_i)
                kinds.append(-1)
            idx.append(hi_i)
            kinds.append(+1)
            direction = -1
            lo, lo_i = v, i
        elif direction <= 0 and v - lo >= reversal_deg:
            if direction == 0 and hi_i < lo_i:
                idx.append(hi_i)
                kinds.append(+1)
            idx.append(lo_i)
            kinds.append(-1)
            direction = +1
            hi, hi_i = v, i
    # The extreme being tracked when the data end: provisional, but a rep that has come back to
    # rest must be countable before the next lift confirms its low point.
    if direction > 0 and (not idx or idx[-1] != hi_i):
        idx.append(hi_i)
        kinds.append(+1)
    elif direction < 0 and (not idx or idx[-1] != lo_i):
        idx.append(lo_i)
        kinds.append(-1)
    return idx, kinds


def find_reps(
    angle_deg: FloatArray,
    rate_dps: FloatArray,
    gait: np.ndarray,
    rate_hz: float,
    settings: Settings,
    polarity: int | None = None,
) -> list[RepSpan]:
    """Reps in one bout (angle about the bout's axis; rate_dps = angular velocity about it)."""
    idx, kinds = turning_points(angle_deg, settings.reversal_deg)
    if len(idx) < 3:
        return []
    if polarity is None:
        polarity = _polarity(angle_deg)
    x = polarity * angle_deg
    kinds = [k * polarity for k in kinds]
    spans: list[RepSpan] = []
    k = 0
    while k < len(idx):
        if kinds[k] != -1:
            k += 1
            continue
        start_i = idx[k]
        base = x[start_i]
        top_i = -1
        top = -np.inf
        end_k = -1
        for j in range(k + 1, len(idx)):
            if kinds[j] == +1:
                if x[idx[j]] > top:
                    top, top_i = float(x[idx[j]]), idx[j]
                continue
            if top_i >= 0 and top - x[idx[j]] >= settings.return_fraction * (top - base):
                end_k = j
                break
            if x[idx[j]] < base:  # a deeper rest before any real return: restart from there
                break
        if end_k < 0:
            k += 1
            continue
        span = _span(x, polarity * rate_dps, start_i, top_i, idx[end_k], polarity)
        if _plausible(span, rate_dps, gait, rate_hz, settings):
            spans.append(span)
        k = end_k
    peaks = [float(np.max(np.abs(rate_dps[sp.start : sp.end + 1]))) for sp in spans]
    return _drop_wobbles(spans, peaks, settings)


def _polarity(angle_deg: FloatArray) -> int:
    """+1 if the bout's first large excursion from its starting rest rises, else -1.

    A bout starts at rest and its first movement is a lift (a lowering has to follow a lift).
    "Large" is half the bout's typical swing, so a fidget before the set does not decide. Not
    the bout's mean level: integrated gyro drifts over a long bout, and a prone set whose leg
    settles lower after each rep was then read upside down.
    """
    lo, hi = np.percentile(angle_deg, [_SWING_PERCENTILE, 100 - _SWING_PERCENTILE])
    swing = float(hi - lo)
    away = angle_deg - angle_deg[0]
    beyond = np.flatnonzero(np.abs(away) >= _FIRST_SWING_FRACTION * swing)
    if swing <= 0 or beyond.size == 0:
        return 1
    return 1 if away[beyond[0]] > 0 else -1


def _span(
    x: FloatArray, v: FloatArray, start_i: int, top_i: int, end_i: int, polarity: int
) -> RepSpan:
    """Phase boundaries: where the angular velocity falls to EDGE_FRACTION of the phase's peak.

    Each phase is found outward from its half-way crossing, so a pause inside the hold or at
    rest does not move the boundaries; `x` and `v` are angle and velocity, lifting positive.
    """
    base_up = float(x[start_i])
    base_down = float(x[end_i])
    top = float(x[top_i])
    rom = top - base_up
    drop = top - base_down
    up = x[start_i : top_i + 1]
    down = x[top_i : end_i + 1]
    mid_up = start_i + int(np.argmax(up >= base_up + 0.5 * rom))
    above = np.flatnonzero(down >= top - 0.5 * drop)
    mid_down = top_i + (int(above[-1]) + 1 if above.size else 0)
    mid_down = min(mid_down, end_i)
    lift = v[start_i : top_i + 1]
    lower = -v[top_i : end_i + 1]
    thr_up = max(EDGE_FRACTION * float(np.max(lift)), 0.0)
    thr_down = max(EDGE_FRACTION * float(np.max(lower)), 0.0)
    slow = np.flatnonzero(v[start_i:mid_up] <= thr_up)
    start = start_i + int(slow[-1]) if slow.size else start_i
    slow = np.flatnonzero(v[mid_up : top_i + 1] <= thr_up)
    con_end = mid_up + int(slow[0]) if slow.size else top_i
    slow = np.flatnonzero(-v[con_end:mid_down] <= thr_down)
    ecc_start = con_end + int(slow[-1]) if slow.size else con_end
    slow = np.flatnonzero(-v[mid_down : end_i + 1] <= thr_down)
    end = mid_down + int(slow[0]) if slow.size else end_i
    return RepSpan(
        start=start,
        concentric_end=max(con_end, start),
        top=top_i,
        eccentric_start=max(ecc_start, con_end),
        end=max(end, ecc_start),
        rom_deg=rom,
        polarity=polarity,
    )


def _plausible(
    span: RepSpan, rate_dps: FloatArray, gait: np.ndarray, rate_hz: float, s: Settings
) -> bool:
    if span.rom_deg < s.min_rom_deg:
        return False
    duration = (span.end - span.start) / rate_hz
    if not s.min_rep_s <= duration <= s.max_rep_s:
        return False
    seg = slice(span.start, span.end + 1)
    if float(np.max(np.abs(rate_dps[seg]))) < s.min_peak_velocity_dps:
        return False
    return not bool(np.any(gait[seg]))


def _drop_wobbles(
    spans: list[RepSpan], peaks_dps: list[float], s: Settings, neighbours: int = 4
) -> list[RepSpan]:
    """Drop reps unlike their neighbours: a set's reps are alike in range and in speed, so a
    small or slow movement among them (a wobble, the leg repositioned between sets) is not one."""
    if len(spans) < 3:
        return spans
    roms = np.array([sp.rom_deg for sp in spans])
    peaks = np.array(peaks_dps)
    keep: list[RepSpan] = []
    for i, sp in enumerate(spans):
        lo, hi = max(i - neighbours, 0), min(i + neighbours + 1, len(spans))
        local_rom = float(np.median(np.delete(roms[lo:hi], i - lo)))
        local_peak = float(np.median(np.delete(peaks[lo:hi], i - lo)))
        if (
            sp.rom_deg >= s.min_rom_fraction * local_rom
            and peaks[i] >= s.min_speed_fraction * local_peak
        ):
            keep.append(sp)
    return keep
