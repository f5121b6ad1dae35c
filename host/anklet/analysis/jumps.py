"""Jumps with the weight on: take-off, flight, landing and ground contact, from free fall.

    series = find_jumps(rec)              # an ImuRecording at its own rate (not the 50 Hz grid)
    series[0].jumps[0].flight_s, .contact_s, .height_cm, .rsi

In the air the body falls freely and an accelerometer strapped anywhere on it reads about 0 g;
on the ground it reads 1 g or more. A flight is a run of |a| below `free_fall_ms2` that ends in a
landing impact. Its edges are where |a| crosses the threshold, moved to where the edge's slope
(taken between the threshold and twice it) meets the flight's own level: the push-off fades
and the impact rises over a few milliseconds, and a bare threshold would cut the flight short.
Ground contact is the time from one landing to the next take-off, for rebounds only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from anklet.analysis.loading import FloatArray, ImuRecording
from anklet.analysis.results import Jump, JumpSeries
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings

_G = 9.80665
_LANDING_WINDOW_S = 0.15
_TREND_JUMPS = 2  # jumps averaged at each end of a series for its trends
_MAX_EDGE_S = 0.03  # the most an edge is moved past its threshold crossing
_CLIP_FRACTION = 0.99  # of the full scale: an axis this high is at the range (32767 LSB)


def find_jumps(rec: ImuRecording, s: Settings = DEFAULT_SETTINGS) -> list[JumpSeries]:
    """Every jump of the recording, grouped into series."""
    t = rec.t_s
    a = np.linalg.norm(rec.acc_ms2, axis=1)
    jumps = [j for j in (_jump(t, a, lo, hi, s) for lo, hi in _flights(t, a, s)) if j]
    if rec.accel_range_g is not None:
        at_range = np.abs(rec.acc_ms2).max(axis=1) >= _CLIP_FRACTION * rec.accel_range_g * _G
        jumps = [replace(j, landing_clipped=_clipped(t, at_range, j)) for j in jumps]
    return _series(jumps, s)


def clipping_flag(series: list[JumpSeries], accel_range_g: float | None) -> list[str]:
    """One flag when landings hit the accelerometer's range (their peaks are then floors)."""
    jumps = [j for js in series for j in js.jumps]
    clipped = sum(j.landing_clipped for j in jumps)
    if not clipped or accel_range_g is None:
        return []
    advice = (
        "log jumps with `anklet set --accel-g 16`"
        if accel_range_g < 16
        else "the peaks are above what the sensor measures"
    )
    return [
        f"{clipped} of {len(jumps)} landings reached the accelerometer's ±{accel_range_g:g} g "
        f"range: their landing peaks are clipped (read them as at least that); {advice}."
    ]


def _clipped(t: FloatArray, at_range: np.ndarray, jump: Jump) -> bool:
    lo = int(np.searchsorted(t, jump.landing_s))
    hi = int(np.searchsorted(t, jump.landing_s + _LANDING_WINDOW_S, side="right"))
    return bool(at_range[lo:hi].any())


def _flights(t: FloatArray, a: FloatArray, s: Settings) -> list[tuple[int, int]]:
    """[first, last] sample indices of each run below the free-fall threshold, blips merged."""
    low = a < s.free_fall_ms2
    if not low.any():
        return []
    edges = np.diff(low.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    runs: list[list[int]] = []
    for lo, hi in zip(starts.tolist(), stops.tolist(), strict=True):
        if runs and t[lo] - t[runs[-1][1]] <= s.flight_blip_s:
            runs[-1][1] = hi
        else:
            runs.append([lo, hi])
    return [(lo, hi) for lo, hi in runs if lo > 0 and hi < len(a) - 1]


def _edge_time(
    t: FloatArray, a: FloatArray, inside: int, step: int, level: float, s: Settings
) -> float:
    """Time where the edge leaving the flight at sample `inside` (towards `step`) meets `level`.

    The edge is the line through its crossings of the threshold and of twice the threshold.
    """
    threshold = s.free_fall_ms2
    n = len(a)
    i = inside
    while 0 <= i + step < n and a[i + step] < threshold:
        i += step
    j = i + step  # first sample at or over the threshold
    k = j
    while 0 <= k + step < n and a[k] < 2 * threshold and abs(t[k] - t[j]) < 0.05:
        k += step

    def crossing(p: int, q: int, value: float) -> float:  # p below value, q at or above it
        if a[q] == a[p]:
            return float(t[q])
        return float(t[p] + (t[q] - t[p]) * (value - a[p]) / (a[q] - a[p]))

    t1 = crossing(i, j, threshold)
    if a[k] < 2 * threshold or k == j:
        return t1
    t2 = crossing(k - step, k, 2 * threshold)
    slope = threshold / (t2 - t1) if t2 != t1 else 0.0  # per second, signed by the direction
    if slope == 0.0:
        return t1
    edge = t1 - (threshold - level) / slope
    # Into the flight only, and by no more than a push-off's or an impact's fade takes.
    lo, hi = sorted((t1, t1 - step * _MAX_EDGE_S))
    return min(max(edge, lo), hi)


def _jump(t: FloatArray, a: FloatArray, lo: int, hi: int, s: Settings) -> Jump | None:
    if t[hi] - t[lo] < s.min_flight_s - 2 * _MAX_EDGE_S:  # far too short, even with its edges
        return None
    level = float(np.median(a[lo : hi + 1]))
    if level > s.flight_level_ms2:
        return None
    takeoff = _edge_time(t, a, lo, -1, level, s)
    landing = _edge_time(t, a, hi, +1, level, s)
    flight = landing - takeoff
    if not s.min_flight_s <= flight <= s.max_flight_s:
        return None
    end = int(np.searchsorted(t, t[hi] + _LANDING_WINDOW_S, side="right"))
    peak = float(a[hi + 1 : end].max()) if end > hi + 1 else 0.0
    if peak < s.min_landing_ms2:
        return None
    return Jump(
        index=0,
        takeoff_s=takeoff,
        landing_s=landing,
        flight_s=flight,
        height_cm=100.0 * _G * flight * flight / 8.0,
        contact_s=None,
        rsi=None,
        landing_peak_g=peak / _G,
    )


def _series(jumps: list[Jump], s: Settings) -> list[JumpSeries]:
    groups: list[list[Jump]] = []
    for jump in jumps:
        if groups and jump.takeoff_s - groups[-1][-1].landing_s <= s.series_gap_s:
            prev = groups[-1][-1]
            contact = jump.takeoff_s - prev.landing_s
            if contact <= s.max_contact_s:
                rsi = jump.height_cm / 100.0 / contact
                jump = replace(jump, contact_s=contact, rsi=rsi)
            groups[-1].append(jump)
        else:
            groups.append([jump])
    return [_series_metrics(k, group, s) for k, group in enumerate(groups, start=1)]


def _change_pct(first: list[float], last: list[float]) -> float:
    """How much lower the last values are than the first, in % of the first (+ = lower)."""
    a = float(np.mean(first))
    return 100.0 * (a - float(np.mean(last))) / a if a > 0 else 0.0


def _series_metrics(index: int, group: list[Jump], s: Settings) -> JumpSeries:
    jumps = [replace(j, index=k) for k, j in enumerate(group, start=1)]
    heights = [j.height_cm for j in jumps]
    contacts = [j.contact_s for j in jumps if j.contact_s is not None]
    rsis = [j.rsi for j in jumps if j.rsi is not None]
    n = _TREND_JUMPS
    height_loss = _change_pct(heights[:n], heights[-n:]) if len(jumps) >= 2 * n else 0.0
    contact_change = -_change_pct(contacts[:n], contacts[-n:]) if len(contacts) >= 2 * n else None
    series = JumpSeries(
        index=index,
        start_s=jumps[0].takeoff_s,
        end_s=jumps[-1].landing_s,
        jumps=jumps,
        jump_count=len(jumps),
        mean_flight_s=float(np.mean([j.flight_s for j in jumps])),
        mean_height_cm=float(np.mean(heights)),
        mean_contact_s=float(np.mean(contacts)) if contacts else None,
        mean_rsi=float(np.mean(rsis)) if rsis else None,
        height_loss_pct=height_loss,
        contact_change_pct=contact_change,
    )
    if len(jumps) >= 2 * n and height_loss > s.height_loss_flag_pct:
        more = (
            f", ground contact {contact_change:+.0f}%"
            if contact_change is not None and abs(contact_change) >= 1
            else ""
        )
        series.flags.append(
            f"Jump series {index}: jump height fell {height_loss:.0f}% from the first to the last "
            f"jumps (over {s.height_loss_flag_pct:.0f}%{more}): fatigue; end the series or rest "
            "longer before the next."
        )
    return series


class OnlineJumpDetector:
    """`find_jumps` fed block by block, for the live view: each jump is reported once, as soon
    as its landing window has been seen (0.15 s after touchdown).

        detector = OnlineJumpDetector()
        for t_s, acc_ms2 in blocks:
            for jump in detector.feed(t_s, acc_ms2): ...

    Only the last few seconds are kept (the longest flight, its edges and landing). Jumps come
    without series, contact or RSI; the offline analysis at the end of the session has them.
    """

    def __init__(self, settings: Settings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self.keep_s = settings.max_flight_s + 2 * _MAX_EDGE_S + _LANDING_WINDOW_S + 0.5
        self._t = np.zeros(0)
        self._a = np.zeros(0)
        self._last_landing_s = -np.inf

    def feed(self, t_s: FloatArray, acc_ms2: FloatArray) -> list[Jump]:
        t = np.concatenate([self._t, np.asarray(t_s, dtype=np.float64)])
        a = np.concatenate([self._a, np.linalg.norm(np.asarray(acc_ms2, dtype=np.float64), axis=1)])
        if len(t) == 0:
            return []
        keep = int(np.searchsorted(t, t[-1] - self.keep_s))
        self._t, self._a = t[keep:], a[keep:]
        found: list[Jump] = []
        for lo, hi in _flights(self._t, self._a, self.settings):
            if self._t[hi] <= self._last_landing_s or self._t[-1] < self._t[hi] + _LANDING_WINDOW_S:
                continue  # reported already, or its landing is not all in yet
            jump = _jump(self._t, self._a, lo, hi, self.settings)
            if jump is not None:
                found.append(jump)
                self._last_landing_s = float(self._t[hi])
        return found
