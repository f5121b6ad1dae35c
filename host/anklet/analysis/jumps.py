"""Jumps with the weight on: take-off, flight, landing, ground contact and drops off a box.

    series = find_jumps(rec)              # an ImuRecording at its own rate (not the 50 Hz grid)
    series[0].jumps[0].flight_s, .contact_s, .height_cm, .rsi; series[0].drop_landing_s

At the foot or shank |a| does not fall to zero in flight: the segment rotates and swings while
the body falls (forsyth_dropjump, a shoe: mean |a| 0.7-1.1 g over a flight, brief dips only).
What a jump does show at the foot is two signatures, found from the accelerometer alone (no gyro
needed): the push-off, which ends in a ringing release spike as the load leaves the shoe, and
the landing impact. A flight is the quiet between them, 0.1-1.2 s long, in which |a| dips under
0.5 g (the foot's acceleration relative to the falling body passes near zero; standing, the
ground holds the foot up and it never does).

- Take-off: the quietest sample in the `release_s` before the release spike's peak (the push-off
  has faded, the toe is leaving; the spike is the shoe ringing after it).
- Landing: where the impact's rising edge crosses the pre-impact level + 1 g.
- Drop: a landing with no push-off before it but a fall (a dip of `min_drop_s`) is a step off a
  box; it is kept when a rebound jump follows, whose ground contact (and RSI) it starts.
- Clipped: an axis at the accelerometer's range (session.json, else the data's own flat tops).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from anklet.analysis.filters import moving_mean
from anklet.analysis.loading import FloatArray, ImuRecording
from anklet.analysis.results import Jump, JumpSeries
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings

_G = 9.80665
_LANDING_WINDOW_S = 0.15  # the impact and its ringing: where the landing peak is read
_TREND_JUMPS = 2  # jumps averaged at each end of a series for its trends
_CLIP_FRACTION = 0.99  # of the full scale: an axis this high is at the range (32767 LSB)
_DIP_SMOOTH_S = 0.01  # |a| averaged over this for the dip test: one glitchy sample is no dip
_PRE_IMPACT_S = 0.03  # the level a landing rises from is the median over this before it
_EDGE_RISE_MS2 = _G  # a landing starts where |a| has risen this far above that level
_MAX_EDGE_S = 0.015  # the most a landing edge is traced back from the first sample over impact
_DROP_LOOKBACK_S = 0.6  # a drop's fall ends at most this long before its landing
_PUSH_S = 0.1  # the push-off's last part, over which the foot is loaded above body weight
_FADE_MS2 = 0.5 * _G  # the push's force falls at least this much into the take-off
_FLAT_TOP_SAMPLES = 3  # this many samples at one exact largest value are a clipped range
_FLAT_TOP_TOLERANCE = 1e-4  # relative: "exact" for CSV-rounded values


def find_jumps(rec: ImuRecording, s: Settings = DEFAULT_SETTINGS) -> list[JumpSeries]:
    """Every jump of the recording, grouped into series (a drop before a series is noted on it)."""
    t = rec.t_s
    a = np.linalg.norm(rec.acc_ms2, axis=1)
    turn = np.linalg.norm(rec.gyro_dps, axis=1) if rec.has_gyro else None
    jumps, drops = _detect(t, a, s, turn)
    range_ms2 = accel_range_ms2(rec)
    if range_ms2 is not None:
        at_range = np.abs(rec.acc_ms2).max(axis=1) >= _CLIP_FRACTION * range_ms2
        jumps = [replace(j, landing_clipped=_clipped(t, at_range, j.landing_s)) for j in jumps]
    return _series(jumps, drops, s)


def accel_range_ms2(rec: ImuRecording) -> float | None:
    """The accelerometer's full scale: from session.json, else from flat tops in the data."""
    if rec.accel_range_g is not None:
        return rec.accel_range_g * _G
    x = np.abs(rec.acc_ms2)
    if x.size == 0:
        return None
    top = float(x.max())
    if top < 2 * _G:  # nothing near any real range (the smallest is ±2 g)
        return None
    at_top = int(np.count_nonzero(x >= top * (1 - _FLAT_TOP_TOLERANCE)))
    return top if at_top >= _FLAT_TOP_SAMPLES else None


def clipping_flag(series: list[JumpSeries], range_ms2: float | None) -> list[str]:
    """One flag when landings hit the accelerometer's range (their peaks are then floors)."""
    jumps = [j for js in series for j in js.jumps]
    clipped = sum(j.landing_clipped for j in jumps)
    if not clipped or range_ms2 is None:
        return []
    range_g = range_ms2 / _G
    advice = (
        "log jumps with `anklet set --accel-g 16`"
        if range_g < 15.5
        else "the peaks are above what the sensor measures"
    )
    return [
        f"{clipped} of {len(jumps)} landings reached the accelerometer's ±{range_g:.3g} g "
        f"range: their landing peaks are clipped (read them as at least that); {advice}."
    ]


def _clipped(t: FloatArray, at_range: np.ndarray, landing_s: float) -> bool:
    lo = int(np.searchsorted(t, landing_s))
    hi = int(np.searchsorted(t, landing_s + _LANDING_WINDOW_S, side="right"))
    return bool(at_range[lo:hi].any())


def _window(t: FloatArray, lo_s: float, hi_s: float) -> slice:
    """Sample indices with lo_s <= t <= hi_s."""
    return slice(int(np.searchsorted(t, lo_s)), int(np.searchsorted(t, hi_s, side="right")))


def _detect(
    t: FloatArray, a: FloatArray, s: Settings, turn_dps: FloatArray | None = None
) -> tuple[list[Jump], list[float]]:
    """Jumps (unnumbered, no contact yet) and drop landing times, in time order.

    `turn_dps` (|gyro|, when there is a gyro): in flight the segment swings and turns, so a
    "flight" in which it stays still is a knock on a resting limb, not a jump.
    """
    hi = np.flatnonzero(a >= s.impact_ms2)
    if hi.size < 2:
        return [], []
    rate_hz = (len(t) - 1) / (t[-1] - t[0])
    dip = moving_mean(a, max(round(_DIP_SMOOTH_S * rate_hz), 1))
    gaps = np.diff(t[hi])
    # Quiet spans between impact-level samples in which |a| dipped: flights (or falls). The
    # impact-level sample after each starts with a landing.
    dipped = (np.minimum.reduceat(dip, hi)[:-1] < s.free_fall_ms2) & (gaps >= s.min_drop_s)
    landed_at = np.flatnonzero(dipped) + 1  # indices into hi
    # ... and those that could hold a whole flight once its edges are set.
    candidates = np.flatnonzero(
        dipped & (gaps >= s.min_flight_s - s.release_s) & (gaps <= s.max_flight_s + s.release_s)
    )
    jumps: list[Jump] = []
    for k in candidates.tolist():
        last, first = int(hi[k]), int(hi[k + 1])
        takeoff = _takeoff(t, a, last, s)
        push = a[_window(t, takeoff - _PUSH_S, takeoff)]
        fading = a[_window(t, takeoff - s.release_s, takeoff)]
        if float(push.mean()) < s.min_push_ms2 or float(fading.max()) - float(push[-1]) < _FADE_MS2:
            continue  # no push fading into the take-off: a lone spike (a heel strike, a knock)
        before = landed_at[landed_at <= k]
        if before.size:  # the push-off began with a landing: it needs time on the ground
            previous = _landing(t, a, int(hi[before[-1]]))
            if takeoff - previous < s.min_contact_s:
                continue  # a lone impact (a heel strike, the leg set down), not a push-off
        landing = _landing(t, a, first)
        flight = landing - takeoff
        if not s.min_flight_s <= flight <= s.max_flight_s:
            continue
        if turn_dps is not None:
            airborne = turn_dps[_window(t, takeoff, landing)]
            if airborne.size and float(airborne.max()) < s.min_flight_turn_dps:
                continue  # the segment never turned: nothing left the ground
        peak = float(a[_window(t, landing, landing + _LANDING_WINDOW_S)].max())
        jumps.append(
            Jump(
                index=0,
                takeoff_s=takeoff,
                landing_s=landing,
                flight_s=flight,
                height_cm=100.0 * _G * flight * flight / 8.0,
                contact_s=None,
                rsi=None,
                landing_peak_g=peak / _G,
            )
        )
    return jumps, _drops(t, a, dip, hi, jumps, s)


def _takeoff(t: FloatArray, a: FloatArray, last: int, s: Settings) -> float:
    """Take-off before the quiet span that starts after sample `last` (the release's last spike)."""
    spike = _window(t, float(t[last]) - s.release_s, float(t[last]))
    peak = spike.start + int(np.argmax(a[spike]))
    quiet = _window(t, float(t[peak]) - s.release_s, float(t[peak]))
    return float(t[quiet.start + int(np.argmin(a[quiet]))])


def _landing(t: FloatArray, a: FloatArray, first: int) -> float:
    """Touchdown: the impact's rising edge (up to sample `first`) at its pre-impact level + 1 g."""
    pre = a[_window(t, t[first] - _PRE_IMPACT_S, t[first])][:-1]
    level = (float(np.median(pre)) if pre.size else 0.0) + _EDGE_RISE_MS2
    j = first
    while j > 0 and a[j - 1] >= level and t[first] - t[j - 1] <= _MAX_EDGE_S:
        j -= 1
    if j == 0 or a[j] <= level:
        return float(t[j])
    w = (level - a[j - 1]) / (a[j] - a[j - 1])  # a[j - 1] < level <= a[j]
    return float(t[j - 1] + w * (t[j] - t[j - 1]))


def _drops(
    t: FloatArray, a: FloatArray, dip: FloatArray, hi: np.ndarray, jumps: list[Jump], s: Settings
) -> list[float]:
    """Landings with a fall but no push-off before them (a step off a box), before a jump."""
    # Each impact after a quiet spell, with the end of the impact before it (the fall lies between).
    gaps = np.diff(t[hi])
    after_quiet = np.flatnonzero(gaps > s.min_drop_s)
    starts = [(int(hi[0]), -np.inf)] + [(int(hi[k + 1]), float(t[hi[k]])) for k in after_quiet]
    landings = {round(j.landing_s, 6) for j in jumps}
    dt = float(np.median(np.diff(t)))
    drops: list[float] = []
    for first, previous_impact_s in starts:
        landing = _landing(t, a, first)
        if round(landing, 6) in landings:
            continue
        before = _window(t, max(landing - _DROP_LOOKBACK_S, previous_impact_s), landing)
        falling = np.count_nonzero(dip[before] < s.free_fall_ms2) * dt
        if falling < s.min_drop_s:
            continue
        if any(0 < j.takeoff_s - landing <= s.max_contact_s for j in jumps):
            drops.append(landing)
    return drops


def _series(jumps: list[Jump], drops: list[float], s: Settings) -> list[JumpSeries]:
    groups: list[list[Jump]] = []
    group_drops: list[float | None] = []
    for jump in jumps:
        landed = [d for d in drops if 0 < jump.takeoff_s - d <= s.max_contact_s]
        new_series = not groups or jump.takeoff_s - groups[-1][-1].landing_s > s.series_gap_s
        previous = None if new_series else groups[-1][-1].landing_s
        if landed and (previous is None or landed[-1] > previous):
            previous = landed[-1]  # a rebound off a drop: contact since the drop's landing
            if not new_series:
                new_series = True
        if previous is not None and jump.takeoff_s - previous <= s.max_contact_s:
            contact = jump.takeoff_s - previous
            jump = replace(jump, contact_s=contact, rsi=jump.height_cm / 100.0 / contact)
        if new_series:
            groups.append([jump])
            group_drops.append(landed[-1] if landed else None)
        else:
            groups[-1].append(jump)
    return [
        _series_metrics(k, group, drop, s)
        for k, (group, drop) in enumerate(zip(groups, group_drops, strict=True), start=1)
    ]


def _change_pct(first: list[float], last: list[float]) -> float:
    """How much lower the last values are than the first, in % of the first (+ = lower)."""
    a = float(np.mean(first))
    return 100.0 * (a - float(np.mean(last))) / a if a > 0 else 0.0


def _series_metrics(
    index: int, group: list[Jump], drop_landing_s: float | None, s: Settings
) -> JumpSeries:
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
        drop_landing_s=drop_landing_s,
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

    Only the last few seconds are kept (the longest flight, its push-off and landing). Jumps come
    without series, contact or RSI; the offline analysis at the end of the session has them.
    """

    def __init__(self, settings: Settings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self.keep_s = settings.max_flight_s + 2 * settings.release_s + _LANDING_WINDOW_S + 1.0
        self._t = np.zeros(0)
        self._a = np.zeros(0)
        self._turn = np.zeros(0)  # |gyro| beside _a, while every block has brought a gyro
        self._last_landing_s = -np.inf

    def feed(
        self, t_s: FloatArray, acc_ms2: FloatArray, gyro_dps: FloatArray | None = None
    ) -> list[Jump]:
        """Add samples (gyro optional, as offline: with it, a flight must show rotation)."""
        t = np.concatenate([self._t, np.asarray(t_s, dtype=np.float64)])
        a = np.concatenate([self._a, np.linalg.norm(np.asarray(acc_ms2, dtype=np.float64), axis=1)])
        if gyro_dps is not None:
            turn = np.linalg.norm(np.asarray(gyro_dps, dtype=np.float64).reshape(-1, 3), axis=1)
            self._turn = np.concatenate([self._turn, turn])
        else:
            self._turn = np.zeros(0)
        if len(t) < 2:
            self._t, self._a = t, a
            return []
        keep = int(np.searchsorted(t, t[-1] - self.keep_s))
        self._t, self._a = t[keep:], a[keep:]
        turn_dps = self._turn[keep:] if len(self._turn) == len(t) else None
        self._turn = turn_dps if turn_dps is not None else np.zeros(0)
        if len(self._t) < 2:
            return []
        jumps, _ = _detect(self._t, self._a, self.settings, turn_dps)
        found: list[Jump] = []
        for jump in jumps:
            if jump.landing_s <= self._last_landing_s + 1e-9:
                continue  # reported already
            if self._t[-1] < jump.landing_s + _LANDING_WINDOW_S:
                break  # its landing is not all in yet
            found.append(jump)
            self._last_landing_s = jump.landing_s
        return found
