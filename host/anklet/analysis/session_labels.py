"""Who trained what, read from a session folder's `session.json` for the report: its "labels"
(`anklet.labels`: exercise, side, athlete, load_kg, note; written by `anklet log`/`anklet label`)
and its start time. Everything is optional: a missing file or key is simply unknown, and labels
that do not read back are named in `problems` and left out, never a failure.

info = read_session_labels(Path("sessions/Anklet-FFEE-20261201-114940"))
info.exercise, info.when()        # "seated knee extension", "Tue 1 Dec 2026, 11:49 UTC"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from anklet.labels import LABELS_KEY, SESSION_FILE, LabelError, Labels, read_session_json


@dataclass(frozen=True)
class SessionLabels:
    exercise: str | None = None  # as a person reads it (the catalogue name, or the free text)
    side: str | None = None  # "left" / "right" / "both"
    athlete: str | None = None
    load_kg: float | None = None
    note: str | None = None
    started: datetime | None = None
    problems: list[str] = field(default_factory=list)  # what was there but did not read back

    def when(self) -> str | None:
        """A readable date and time: 'Tue 1 Dec 2026, 11:49 UTC'."""
        if self.started is None:
            return None
        zone = self.started.tzname() or ""
        return f"{self.started:%a} {self.started.day} {self.started:%b %Y, %H:%M} {zone}".strip()

    def date(self) -> str | None:
        return None if self.started is None else f"{self.started.day} {self.started:%b %Y}"


def read_session_labels(folder: Path) -> SessionLabels:
    """The folder's labels and start time; what cannot be read is named in `problems`."""
    if not (folder / SESSION_FILE).is_file():
        return SessionLabels()
    try:
        meta = read_session_json(folder)
    except LabelError as exc:
        return SessionLabels(problems=[f"{exc}; labels ignored"])
    problems: list[str] = []
    labels = Labels()
    if meta.get(LABELS_KEY) is not None:
        try:
            labels = Labels.from_dict(meta[LABELS_KEY])
        except LabelError as exc:
            problems.append(f"{folder / SESSION_FILE}: {exc}; labels ignored")
    started = None
    stamp = meta.get("started_utc")
    if isinstance(stamp, str):
        try:
            started = datetime.fromisoformat(stamp)
        except ValueError:
            problems.append(f"{folder / SESSION_FILE}: started_utc {stamp!r} is not a date")
    return SessionLabels(
        exercise=labels.exercise_name or None,
        side=labels.side,
        athlete=labels.athlete,
        load_kg=labels.load_kg,
        note=labels.note,
        started=started,
        problems=problems,
    )
