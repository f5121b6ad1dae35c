"""Per-rep, per-set and per-session numbers, and the fatigue flag they call for (form flags:
form.py).

rep = rep_metrics(trace, span, t_s, force_n, index)
rep_set = set_metrics(index, reps, settings)
flags = session_flags(sets, settings, planned_sets)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anklet.analysis.loading import FloatArray
from anklet.analysis.reps import RepSpan
from anklet.analysis.results import Rep, RepSet
from anklet.analysis.settings import Settings


def rep_metrics(
    angle_deg: FloatArray,
    rate_dps: FloatArray,
    gyro_dps: FloatArray,
    axis: FloatArray,
    t_s: FloatArray,
    force_n: FloatArray | None,
    span: RepSpan,
    index: int,
) -> Rep:
    """Metrics of one rep; arrays are the bout's (lifting positive), t_s/force_n sliced alike."""
    a, c, e, b = span.start, span.concentric_end, span.eccentric_start, span.end
    dt = float(t_s[1] - t_s[0]) if len(t_s) > 1 else 0.0
    moving = np.concatenate([rate_dps[a : c + 1], rate_dps[e : b + 1]])
    lift = rate_dps[a : c + 1]
    # Sway: integrate the angular velocity left after removing the main axis; its largest
    # excursion from the rep's start is how far the limb turned off the plane of the exercise.
    seg = gyro_dps[a : b + 1]
    off = seg - np.outer(seg @ axis, axis)
    off_angle = np.cumsum(off, axis=0) * dt
    sway = float(np.max(np.linalg.norm(off_angle, axis=1))) if len(off_angle) else 0.0
    peak_f = mean_f = impulse = None
    if force_n is not None:
        f = force_n[a : b + 1]
        ok = np.isfinite(f)
        if np.any(ok):
            peak_f = float(np.max(f[ok]))
            mean_f = float(np.mean(f[ok]))
            impulse = float(np.sum(f[ok]) * dt)
    return Rep(
        index=index,
        start_s=float(t_s[a]),
        end_s=float(t_s[b]),
        turnaround_s=float(t_s[span.top]),
        concentric_end_s=float(t_s[c]),
        eccentric_start_s=float(t_s[e]),
        duration_s=float(t_s[b] - t_s[a]),
        concentric_s=float(t_s[c] - t_s[a]),
        hold_s=float(t_s[e] - t_s[c]),
        eccentric_s=float(t_s[b] - t_s[e]),
        rom_deg=span.rom_deg,
        peak_velocity_dps=float(np.max(np.abs(rate_dps[a : b + 1]))),
        mean_velocity_dps=float(np.mean(np.abs(moving))) if moving.size else 0.0,
        concentric_mean_velocity_dps=float(np.mean(lift)) if lift.size else 0.0,
        sway_deg=sway,
        peak_force_n=peak_f,
        mean_force_n=mean_f,
        impulse_ns=impulse,
    )


def set_metrics(index: int, reps: Sequence[Rep], settings: Settings) -> RepSet:
    reps = list(reps)
    start, end = reps[0].start_s, reps[-1].end_s
    k = max(1, min(settings.trend_reps, len(reps) // 2))
    first = reps[:k]
    last = reps[-k:]
    v_first = float(np.mean([r.concentric_mean_velocity_dps for r in first]))
    v_last = float(np.mean([r.concentric_mean_velocity_dps for r in last]))
    loss = 100.0 * (1.0 - v_last / v_first) if len(reps) >= 2 and v_first > 0 else 0.0
    sway_first = float(np.mean([r.sway_deg for r in first]))
    sway_last = float(np.mean([r.sway_deg for r in last]))
    span_s = end - start
    rep_set = RepSet(
        index=index,
        start_s=start,
        end_s=end,
        reps=reps,
        rep_count=len(reps),
        cadence_rpm=60.0 * len(reps) / span_s if span_s > 0 else 0.0,
        time_under_tension_s=float(sum(r.duration_s for r in reps)),
        mean_rom_deg=float(np.mean([r.rom_deg for r in reps])),
        velocity_loss_pct=loss,
        sway_first_deg=sway_first,
        sway_last_deg=sway_last,
        sway_trend_deg=sway_last - sway_first if len(reps) >= 2 else 0.0,
    )
    rep_set.flags.extend(set_flags(rep_set, settings))
    return rep_set


def set_flags(s: RepSet, settings: Settings) -> list[str]:
    flags: list[str] = []
    if (
        s.rep_count >= 2 * settings.trend_reps
        and s.velocity_loss_pct > settings.velocity_loss_flag_pct
    ):
        flags.append(
            f"Set {s.index}: lifting speed fell {s.velocity_loss_pct:.0f}% from the first to the "
            f"last reps (over {settings.velocity_loss_flag_pct:.0f}%): fatigue; stop the set "
            "earlier or use less weight."
        )
    return flags


def session_flags(sets: Sequence[RepSet], planned_sets: int | None) -> list[str]:
    flags = [f for s in sets for f in s.flags]
    if planned_sets is not None and len(sets) > planned_sets:
        flags.append(
            f"{len(sets)} sets done, {planned_sets} planned: {len(sets) - planned_sets} more "
            "than the session plan."
        )
    return flags
