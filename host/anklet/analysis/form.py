"""Form flags a physiotherapist expects: range lost within a set, sets of low amplitude, tempo
off its target, sideways sway rising, and the asymmetry between two sides. Each is justified,
with its source, in docs/ANALYSIS.md ("Form flags"); thresholds live in settings.py.

add_form_flags(sets, targets_for("straight leg raise"), DEFAULT_SETTINGS)   # into RepSet.flags
sym = limb_symmetry(left_reps, right_reps, involved="left")                 # sym.flags
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from anklet.analysis.results import Rep, RepSet
from anklet.analysis.settings import Settings
from anklet.analysis.targets import FormTargets, Tempo


def median_rom_deg(s: RepSet) -> float:
    return float(np.median([r.rom_deg for r in s.reps]))


def median_rep_s(s: RepSet) -> float:
    return float(np.median([r.duration_s for r in s.reps]))


def rom_loss_pct(s: RepSet, settings: Settings) -> float:
    """Range of the last reps against the first (mean of `trend_reps` each); + means smaller."""
    k = max(1, min(settings.trend_reps, len(s.reps) // 2))
    first = float(np.mean([r.rom_deg for r in s.reps[:k]]))
    last = float(np.mean([r.rom_deg for r in s.reps[-k:]]))
    return 100.0 * (1.0 - last / first) if first > 0 else 0.0


def rom_loss_flag(s: RepSet, settings: Settings) -> str | None:
    """The reps shrink within the set: the last reps lost more than the threshold."""
    if s.rep_count < 2 * settings.trend_reps:
        return None
    loss = rom_loss_pct(s, settings)
    if loss <= settings.rom_loss_flag_pct:
        return None
    k = settings.trend_reps
    first = float(np.mean([r.rom_deg for r in s.reps[:k]]))
    floor = first * (1.0 - settings.rom_loss_flag_pct / 100.0)
    short = [r.index for r in s.reps[k:] if r.rom_deg < floor]
    which = f"; reps {_list(short)} under {floor:.0f} deg" if short else ""
    return (
        f"Set {s.index}: range of motion fell {loss:.0f}% from the first reps ({first:.0f} deg) "
        f"to the last ({first * (1 - loss / 100):.0f} deg){which}: the leg is tiring; "
        "rest longer or use less weight."
    )


def session_reference_rom(sets: Sequence[RepSet]) -> RepSet | None:
    """The set with the largest median range: what this person reached today (two sets or more)."""
    if len(sets) < 2:
        return None
    return max(sets, key=median_rom_deg)


def low_amplitude_flag(
    s: RepSet, reference_rom_deg: float, reference: str, settings: Settings
) -> str | None:
    """The set's median range is well short of the reference (a target, or the best set)."""
    rom = median_rom_deg(s)
    if reference_rom_deg <= 0 or rom >= settings.low_rom_fraction * reference_rom_deg:
        return None
    return (
        f"Set {s.index}: range of motion {rom:.0f} deg, {100 * rom / reference_rom_deg:.0f}% of "
        f"{reference} ({reference_rom_deg:.0f} deg; flagged under "
        f"{100 * settings.low_rom_fraction:.0f}%): the reps are short; lift through the full "
        "range, with less weight if needed."
    )


def session_reference_tempo(sets: Sequence[RepSet]) -> tuple[RepSet, Tempo] | None:
    """The set with the slowest median rep, and its tempo: how this person moved today when
    unhurried (two sets or more)."""
    if len(sets) < 2:
        return None
    slow = max(sets, key=median_rep_s)
    return slow, Tempo(
        float(np.median([r.concentric_s for r in slow.reps])),
        float(np.median([r.hold_s for r in slow.reps])),
        float(np.median([r.eccentric_s for r in slow.reps])),
    )


def tempo_flag(
    s: RepSet, tempo: Tempo, settings: Settings, reference: str = "", slow_too: bool = True
) -> str | None:
    """The set's typical rep is much faster (or slower) than the exercise's tempo, or than the
    `reference` set's (then only faster: the reference is the session's slowest)."""
    took = median_rep_s(s)
    target = tempo.total_s
    if target <= 0:
        return None
    phases = (
        ("lifting", float(np.median([r.concentric_s for r in s.reps])), tempo.up_s),
        ("hold at the top", float(np.median([r.hold_s for r in s.reps])), tempo.hold_s),
        ("lowering", float(np.median([r.eccentric_s for r in s.reps])), tempo.down_s),
    )
    said = f"{reference} {target:.1f} s" if reference else f"target {target:g} s ({tempo})"
    if took < settings.fast_tempo_fraction * target:
        name, got, want = min(phases, key=lambda p: p[1] / p[2] if p[2] > 0 else np.inf)
        return (
            f"Set {s.index}: reps took {took:.1f} s, {said}; the {name} was {got:.1f} s "
            f"against {f'{want:.1f}' if reference else f'{want:g}'} s: too fast; slow down"
            + (" and hold at the top." if name == "hold at the top" else ".")
        )
    if slow_too and took > settings.slow_tempo_factor * target:
        name, got, want = max(phases, key=lambda p: p[1] / p[2] if p[2] > 0 else 0.0)
        return (
            f"Set {s.index}: reps took {took:.1f} s, over {settings.slow_tempo_factor:g}x the "
            f"{said}; the {name} was {got:.1f} s against {want:g} s: too slow; keep the tempo "
            "or use less weight."
        )
    return None


def sway_rise_flag(s: RepSet, settings: Settings) -> str | None:
    """Sideways sway grows across the set: other joints compensate as the working muscles tire."""
    if (
        s.rep_count >= 2 * settings.trend_reps
        and s.sway_trend_deg > settings.sway_rise_flag_deg
        and s.sway_last_deg > 1.5 * s.sway_first_deg
    ):
        return (
            f"Set {s.index}: sideways sway grew from {s.sway_first_deg:.0f} to "
            f"{s.sway_last_deg:.0f} deg across the set: other joints are compensating; "
            "slow down or lighten the weight."
        )
    return None


def add_form_flags(sets: Sequence[RepSet], targets: FormTargets, settings: Settings) -> None:
    """Append each set's form flags to its `flags` (after the fatigue flags already there)."""
    best = session_reference_rom(sets)
    # No catalogue exercise (none, or free text): the session's own unhurried set is the tempo
    # to keep, not a guess at a prescription (one steady tempo is never "too fast").
    slowest = None if targets.tempo_known else session_reference_tempo(sets)
    relative = replace(settings, fast_tempo_fraction=settings.fast_relative_fraction)
    for s in sets:
        flags = [rom_loss_flag(s, settings), sway_rise_flag(s, settings)]
        if targets.rom_deg is not None:
            flags.append(low_amplitude_flag(s, targets.rom_deg, "the target", settings))
        elif best is not None and best is not s:
            ref = f"set {best.index}, today's largest"
            flags.append(low_amplitude_flag(s, median_rom_deg(best), ref, settings))
        if targets.tempo_known:
            flags.append(tempo_flag(s, targets.tempo, settings))
        elif slowest is not None and slowest[0] is not s:
            ref, tempo = slowest
            reference = f"set {ref.index}, today's slowest,"
            flags.append(tempo_flag(s, tempo, relative, reference, slow_too=False))
        s.flags.extend(f for f in flags if f)


# Two sides. LSI = involved side / other side x 100 (the clinical convention); with no involved
# side named, the weaker over the stronger, so 100 % is symmetric and lower is worse either way.
_SIDE_METRICS = (
    ("range of motion", "rom_deg", "deg"),
    ("lifting speed", "concentric_mean_velocity_dps", "deg/s"),
    ("peak strap force", "peak_force_n", "N"),
    ("impulse", "impulse_ns", "N·s"),
)
SIDES = ("left", "right")


@dataclass(frozen=True)
class SideMetric:
    name: str
    unit: str
    left: float  # median over the side's reps
    right: float
    lsi_pct: float  # involved / other (or weaker / stronger) x 100
    weaker: str  # "left" / "right"


@dataclass(frozen=True)
class Symmetry:
    involved: str | None
    left_reps: int
    right_reps: int
    metrics: list[SideMetric]
    flags: list[str] = field(default_factory=list)


def limb_symmetry(
    left: Sequence[Rep], right: Sequence[Rep], settings: Settings, involved: str | None = None
) -> Symmetry:
    """Limb symmetry index of each per-rep metric both sides have; a flag for each under
    `settings.lsi_flag_pct`. `involved` is the injured/operated side, when there is one."""
    if involved is not None and involved not in SIDES:
        raise ValueError(f"involved side {involved!r}: give left or right")
    metrics: list[SideMetric] = []
    flags: list[str] = []
    for name, attr, unit in _SIDE_METRICS:
        values = [_median(reps, attr) for reps in (left, right)]
        lv, rv = values
        if lv is None or rv is None or max(lv, rv) <= 0:
            continue
        weaker = "left" if lv < rv else "right"
        if involved is None:
            num, den = min(lv, rv), max(lv, rv)
        else:
            num, den = (lv, rv) if involved == "left" else (rv, lv)
        lsi = 100.0 * num / den if den > 0 else 0.0
        metrics.append(SideMetric(name, unit, lv, rv, lsi, weaker))
        if lsi < settings.lsi_flag_pct:
            top, bottom = (involved, _other(involved)) if involved else (weaker, _other(weaker))
            flags.append(
                f"{name.capitalize()}: left {lv:.0f} {unit}, right {rv:.0f} {unit}: the {top} "
                f"side is at {lsi:.0f}% of the {bottom} (under {settings.lsi_flag_pct:.0f}%, "
                "the usual symmetry target)."
            )
    return Symmetry(involved, len(left), len(right), metrics, flags)


def _median(reps: Sequence[Rep], attr: str) -> float | None:
    values = [getattr(r, attr) for r in reps]
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _list(indices: list[int]) -> str:
    return ", ".join(str(i) for i in indices)
