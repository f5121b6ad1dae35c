"""Live rep feedback: each rep as it ends against the athlete's target, and the rest between sets.

    coach = RepCoach(Target(rom_deg=60, source="--target-rom"))
    session.subscribe(coach.on_event)            # training.RepEnded, as each rep ends
    coach.lines                                  # "set 1 rep 3  58° of 60° ..." (newest last)
    coach.rest_s()                               # seconds since the last rep ended, or None

A rep "falls short" when its range of motion is under `SHORT_FRACTION` of the target. On the
real recordings of uci_pt_legs (`python -m bench feedback`; 0.9 set before measuring), 0.9 calls
92.6 % of deliberately low-amplitude reps short and 10.0 % of correct ones (docs/ANALYSIS.md,
"Live rep feedback").
The target is `--target-rom`, or the best mean range of motion of the athlete's sessions of the
same exercise (and side) in the last `RECENT_DAYS` days of the training history.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .labels import Labels
from .training import RepEnded, TrainingEvent

SHORT_FRACTION = 0.9
RECENT_DAYS = 28
BELL = "\a"


@dataclass(frozen=True)
class Target:
    rom_deg: float
    source: str  # where it came from, for the display: "--target-rom", "best of 3 sessions ..."


@dataclass(frozen=True)
class RepVerdict:
    event: RepEnded
    short: bool
    line: str


def target_from_history(
    labels: Labels | None,
    sessions_dir: Path,
    db_url: str | None = None,
    now: datetime | None = None,
) -> Target | None:
    """The athlete's best recent mean range of motion on this exercise (and side), from the
    training history after indexing `sessions_dir`; None without an exercise or a past session."""
    if labels is None or not labels.exercise:
        return None
    from .history import Filters, HistoryStore

    since = (now or datetime.now(UTC)).date() - timedelta(days=RECENT_DAYS)
    store = HistoryStore(db_url)
    try:
        if sessions_dir.is_dir():
            store.sync(sessions_dir)
        rows = store.find(
            Filters(athlete=labels.athlete, exercise=labels.exercise, side=labels.side, since=since)
        )
    finally:
        store.close()
    roms = [r["mean_rom_deg"] for r in rows if r.get("mean_rom_deg") and r.get("rep_count")]
    if not roms:
        return None
    return Target(max(roms), f"best of {len(roms)} session(s) of the last {RECENT_DAYS} days")


@dataclass
class RepCoach:
    """Turns live RepEnded events into verdicts against the target; rings the bell if asked."""

    target: Target | None = None
    beep: bool = False
    bell: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    lines: list[str] = field(default_factory=list)
    verdicts: list[RepVerdict] = field(default_factory=list)
    _last_rep_at: float | None = None

    def on_event(self, event: TrainingEvent) -> None:
        if not isinstance(event, RepEnded):
            return
        verdict = self.judge(event)
        self.verdicts.append(verdict)
        self.lines.append(verdict.line)
        self._last_rep_at = self.clock()
        if verdict.short and self.beep:
            self.bell(BELL)

    def judge(self, event: RepEnded) -> RepVerdict:
        rep = event.rep
        rom = f"{rep.rom_deg:.0f}°"
        short = False
        if self.target is not None and self.target.rom_deg > 0:
            short = rep.rom_deg < SHORT_FRACTION * self.target.rom_deg
            rom += f" of {self.target.rom_deg:.0f}°" + (" SHORT" if short else "")
        line = (
            f"set {event.set_number} rep {event.rep_number}  {rom}, "
            f"lifting {rep.concentric_mean_velocity_dps:.0f}°/s, up {rep.concentric_s:.1f} / "
            f"hold {rep.hold_s:.1f} / down {rep.eccentric_s:.1f} s"
        )
        return RepVerdict(event, short, line)

    def rest_s(self) -> float | None:
        """Seconds since the last rep ended (the rest timer), None before the first rep."""
        return None if self._last_rep_at is None else self.clock() - self._last_rep_at
