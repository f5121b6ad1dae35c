"""Left against right: per-side metrics of two sessions and their limb symmetry index.

    sym = limb_symmetry(left_result, right_result, involved="left")   # or involved=None
    sym.metrics[0].lsi_pct, sym.flags, sym.to_dict()

LSI = involved / uninvolved × 100 when a side is marked involved (the injured or operated leg),
otherwise the smaller side over the larger × 100 (100 = symmetric). Below 85 % a metric is
flagged (see docs/ANALYSIS.md, "Left and right").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from anklet.analysis.results import Rep, SessionAnalysis

SIDES = ("left", "right")
#: A limb symmetry index below this is abnormal (Noyes et al. 1991, hop tests after ACL
#: rupture; the usual return-to-sport criteria ask 85-90 %).
ASYMMETRY_LSI_PCT = 85.0


def _reps(result: SessionAnalysis) -> list[Rep]:
    return [rep for s in result.sets for rep in s.reps]


def _mean_rep(attr: str) -> Callable[[SessionAnalysis], float | None]:
    def metric(result: SessionAnalysis) -> float | None:
        values = [getattr(r, attr) for r in _reps(result)]
        values = [v for v in values if v is not None and np.isfinite(v)]
        return float(np.mean(values)) if values else None

    return metric


#: (name in session.json, what it is, how to get it from one side's analysis)
METRICS: tuple[tuple[str, str, Callable[[SessionAnalysis], float | None]], ...] = (
    ("reps", "reps counted", lambda r: float(r.total_reps)),
    ("rom_deg", "mean range of motion", _mean_rep("rom_deg")),
    (
        "lifting_velocity_dps",
        "mean lifting (concentric) angular velocity",
        _mean_rep("concentric_mean_velocity_dps"),
    ),
    ("peak_velocity_dps", "mean peak angular velocity", _mean_rep("peak_velocity_dps")),
    (
        "time_under_tension_s",
        "time under tension, all sets",
        lambda r: float(sum(s.time_under_tension_s for s in r.sets)),
    ),
    ("sway_deg", "mean sway off the movement's axis", _mean_rep("sway_deg")),
    ("peak_force_n", "mean peak strap force", _mean_rep("peak_force_n")),
)


@dataclass(frozen=True)
class SideMetric:
    name: str
    what: str
    left: float | None
    right: float | None
    lsi_pct: float | None  # None: a side has no value, or the reference side is 0


@dataclass(frozen=True)
class Symmetry:
    involved: str | None  # "left", "right", or None: LSI = smaller / larger
    metrics: list[SideMetric]
    flags: list[str] = field(default_factory=list)

    def metric(self, name: str) -> SideMetric:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["formula"] = (
            f"{self.involved} / {_other(self.involved)} x 100"
            if self.involved
            else "smaller side / larger side x 100"
        )
        for m in data["metrics"]:
            for key in ("left", "right", "lsi_pct"):
                if m[key] is not None:
                    m[key] = round(m[key], 3)
        return data


def _other(side: str | None) -> str:
    return "right" if side == "left" else "left"


def lsi_pct(left: float | None, right: float | None, involved: str | None) -> float | None:
    """The limb symmetry index of one metric, in %; None when it cannot be formed."""
    if left is None or right is None:
        return None
    if involved is None:
        low, high = sorted((abs(left), abs(right)))
        return 100.0 if high == 0 else 100.0 * low / high
    num, den = (left, right) if involved == "left" else (right, left)
    return None if den == 0 else 100.0 * num / den


def limb_symmetry(
    left: SessionAnalysis, right: SessionAnalysis, involved: str | None = None
) -> Symmetry:
    if involved is not None and involved not in SIDES:
        raise ValueError(f"involved side {involved!r}: use left or right")
    metrics = []
    flags = []
    for name, what, get in METRICS:
        lv, rv = get(left), get(right)
        if lv is None and rv is None:
            continue  # no side has it (no load cell): not a metric of this session
        lsi = lsi_pct(lv, rv, involved)
        metrics.append(SideMetric(name, what, lv, rv, lsi))
        balance = lsi_pct(lv, rv, None)
        if balance is not None and balance < ASYMMETRY_LSI_PCT and name != "sway_deg":
            flags.append(
                f"{what}: left {lv:.3g}, right {rv:.3g} "
                f"(symmetry {balance:.0f} %, below {ASYMMETRY_LSI_PCT:.0f} %)"
            )
    if left.total_reps == 0 or right.total_reps == 0:
        empty = [s for s, r in zip(SIDES, (left, right), strict=True) if r.total_reps == 0]
        flags.append(f"no reps on the {' and '.join(empty)} side: symmetry needs both")
    return Symmetry(involved, metrics, flags)
