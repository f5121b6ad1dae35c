"""Weekly progress of one exercise: per ISO week and side, the range of motion and lifting speed
per rep, the reps and the time under tension; with both legs trained, the left/right ratio.

    weeks = weekly_progress(store.find(Filters(exercise="seated-knee-extension")), store.reps_of)
    for row in weeks.rows: print(row.week, row.side, row.rom_deg)
    write_chart(weeks, Path("progress.png"), "seated knee extension, Ana")
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

NO_SIDE = "-"  # sessions without a side label


@dataclass(frozen=True)
class WeekSide:
    week: str  # ISO week, "2026-W48"
    side: str  # left, right, both or "-"
    sessions: int
    reps: int
    rom_deg: float | None  # mean per rep
    speed_dps: float | None  # mean lifting (concentric) angular velocity per rep
    time_under_tension_s: float | None  # summed over the week's sessions


@dataclass(frozen=True)
class LeftRight:
    week: str
    rom_ratio: float | None  # left / right, 1.0 = symmetric
    speed_ratio: float | None


@dataclass(frozen=True)
class Progress:
    rows: list[WeekSide]
    ratios: list[LeftRight]

    def to_dict(self) -> dict[str, Any]:
        return {
            "weeks": [asdict(r) for r in self.rows],
            "left_right": [asdict(r) for r in self.ratios],
        }


def iso_week(session: dict[str, Any]) -> str:
    year, week, _ = session["started_utc"].isocalendar()
    return f"{year}-W{week:02d}"


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def weekly_progress(
    sessions: list[dict[str, Any]], reps_of: Callable[[list[int]], list[dict[str, Any]]]
) -> Progress:
    """`sessions`: rows from HistoryStore.find (one exercise); `reps_of`: their reps by id."""
    dated = [s for s in sessions if s["started_utc"] is not None]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in dated:
        groups[(iso_week(s), s["side"] or NO_SIDE)].append(s)
    by_session: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for rep in reps_of([s["id"] for s in dated]) if dated else []:
        by_session[rep["session_id"]].append(rep)
    rows = []
    for (week, side), members in sorted(groups.items()):
        reps = [r for s in members for r in by_session[s["id"]]]
        tut = [s["time_under_tension_s"] for s in members if s["time_under_tension_s"] is not None]
        rows.append(
            WeekSide(
                week=week,
                side=side,
                sessions=len(members),
                reps=len(reps),
                rom_deg=_mean([r["rom_deg"] for r in reps if r["rom_deg"] is not None]),
                speed_dps=_mean(
                    [
                        r["concentric_mean_velocity_dps"]
                        for r in reps
                        if r["concentric_mean_velocity_dps"] is not None
                    ]
                ),
                time_under_tension_s=round(sum(tut), 3) if tut else None,
            )
        )
    return Progress(rows, _ratios(rows))


def _ratio(left: float | None, right: float | None) -> float | None:
    if left is None or right is None or right == 0:
        return None
    return round(left / right, 3)


def _ratios(rows: list[WeekSide]) -> list[LeftRight]:
    by_week: dict[str, dict[str, WeekSide]] = defaultdict(dict)
    for row in rows:
        by_week[row.week][row.side] = row
    out = []
    for week, sides in sorted(by_week.items()):
        if "left" in sides and "right" in sides:
            left, right = sides["left"], sides["right"]
            out.append(
                LeftRight(
                    week,
                    _ratio(left.rom_deg, right.rom_deg),
                    _ratio(left.speed_dps, right.speed_dps),
                )
            )
    return out


_PANELS = (
    ("rom_deg", "range of motion per rep (°)"),
    ("speed_dps", "lifting speed per rep (°/s)"),
    ("reps", "reps in the week"),
    ("time_under_tension_s", "time under tension in the week (s)"),
)


def write_chart(progress: Progress, path: Path, title: str) -> Path:
    """A PNG: one panel per figure, a line per side over the weeks; the left/right ratio below
    when both legs were trained in a week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = sorted({r.week for r in progress.rows})
    x = {w: i for i, w in enumerate(weeks)}
    n_panels = len(_PANELS) + (1 if progress.ratios else 0)
    fig, axes = plt.subplots(n_panels, 1, figsize=(8, 2.2 * n_panels), sharex=True, squeeze=False)
    fig.suptitle(title)
    sides = sorted({r.side for r in progress.rows})
    for ax, (key, label) in zip(axes[:, 0], _PANELS, strict=False):
        for side in sides:
            points = [(x[r.week], getattr(r, key)) for r in progress.rows if r.side == side]
            points = [(i, v) for i, v in points if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=side if side != NO_SIDE else "side not given")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="best")
    if progress.ratios:
        ax = axes[-1, 0]
        for key, label in (("rom_ratio", "range of motion"), ("speed_ratio", "lifting speed")):
            points = [(x[r.week], getattr(r, key)) for r in progress.ratios]
            points = [(i, v) for i, v in points if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="s", label=label)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_ylabel("left / right", fontsize=8)
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xticks(range(len(weeks)), weeks)
    axes[-1, 0].set_xlabel("ISO week")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
