"""Two sessions side by side: labels, sets, reps, range of motion, lifting speed, tempo, time
under tension and sway, with B minus A for every figure.

    rows = compare(read_session(a_folder), read_session(b_folder))
    for row in rows: print(row.what, row.a, row.b, row.change)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .folders import SessionRecord


@dataclass(frozen=True)
class Line:
    what: str
    a: Any
    b: Any
    change: float | None = None  # B - A, for numbers
    change_pct: float | None = None  # (B - A) / A


# (the summary's key, what a person reads)
_FIGURES = (
    ("set_count", "sets"),
    ("rep_count", "reps"),
    ("mean_rom_deg", "range of motion per rep (deg)"),
    ("mean_speed_dps", "lifting speed per rep (deg/s)"),
    ("concentric_s", "tempo up (s)"),
    ("hold_s", "tempo hold (s)"),
    ("eccentric_s", "tempo down (s)"),
    ("time_under_tension_s", "time under tension (s)"),
    ("sway_deg", "sway per rep (deg)"),
)


def _started(record: SessionRecord) -> str | None:
    return record.started_utc.strftime("%Y-%m-%d %H:%M UTC") if record.started_utc else None


def compare(a: SessionRecord, b: SessionRecord) -> list[Line]:
    lines = [
        Line("session", a.name, b.name),
        Line("started", _started(a), _started(b)),
        Line("exercise", a.labels.exercise_name or None, b.labels.exercise_name or None),
        Line("side", a.labels.side, b.labels.side),
        Line("athlete", a.labels.athlete, b.labels.athlete),
        Line(
            "load (kg)",
            a.labels.load_kg,
            b.labels.load_kg,
            *_change(a.labels.load_kg, b.labels.load_kg),
        ),
        Line("duration (s)", a.duration_s, b.duration_s, *_change(a.duration_s, b.duration_s)),
    ]
    sa, sb = a.summary, b.summary
    for key, what in _FIGURES:
        lines.append(Line(what, sa[key], sb[key], *_change(sa[key], sb[key])))
    lines.append(Line("flags", " | ".join(a.flags) or "none", " | ".join(b.flags) or "none"))
    return lines


def _change(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    if a is None or b is None:
        return None, None
    pct = round(100.0 * (b - a) / a, 1) if a else None
    return round(b - a, 3), pct
