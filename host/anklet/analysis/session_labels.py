"""Who trained what, read from a session folder's `session.json` for the report: its "labels"
({"exercise", "side", "athlete", "load_kg", "note"}, written by `anklet log`/`anklet label`)
and its start time. Everything is optional: a missing file, key or field is simply unknown.

labels = read_session_labels(Path("sessions/Anklet-FFEE-20261201-114940"))
labels.exercise, labels.when()        # "seated knee extension", "Tue 1 Dec 2026, 11:49 UTC"
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SessionLabels:
    exercise: str | None = None
    side: str | None = None  # "left" / "right" / "both"
    athlete: str | None = None
    load_kg: float | None = None
    note: str | None = None
    started: datetime | None = None
    problems: list[str] = field(default_factory=list)  # fields present but unreadable

    def when(self) -> str | None:
        """A readable date and time: 'Tue 1 Dec 2026, 11:49 UTC'."""
        if self.started is None:
            return None
        zone = self.started.tzname() or ""
        return f"{self.started:%a} {self.started.day} {self.started:%b %Y, %H:%M} {zone}".strip()

    def date(self) -> str | None:
        return None if self.started is None else f"{self.started.day} {self.started:%b %Y}"


def read_session_labels(folder: Path) -> SessionLabels:
    """The folder's labels; unknown fields stay None, unreadable ones are named in `problems`."""
    path = folder / "session.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SessionLabels()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return SessionLabels(problems=[f"{path}: not readable JSON ({exc}); labels ignored"])
    if not isinstance(data, dict):
        return SessionLabels(problems=[f"{path}: not a JSON object; labels ignored"])
    problems: list[str] = []
    raw = data.get("labels")
    if raw is not None and not isinstance(raw, dict):
        problems.append(f'{path}: "labels" is not an object; ignored')
        raw = None
    labels: dict[str, Any] = raw or {}

    def text(key: str) -> str | None:
        value = labels.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            problems.append(f"{path}: labels.{key} = {value!r} is not text; ignored")
            return None
        return value.strip()

    load = labels.get("load_kg")
    load_kg: float | None = None
    if load is not None:
        if isinstance(load, int | float) and not isinstance(load, bool) and math.isfinite(load):
            load_kg = float(load)
        else:
            problems.append(f"{path}: labels.load_kg = {load!r} is not a number; ignored")
    started = None
    stamp = data.get("started_utc")
    if isinstance(stamp, str):
        try:
            started = datetime.fromisoformat(stamp)
        except ValueError:
            problems.append(f"{path}: started_utc = {stamp!r} is not a date; ignored")
    return SessionLabels(
        exercise=text("exercise"),
        side=text("side"),
        athlete=text("athlete"),
        load_kg=load_kg,
        note=text("note"),
        started=started,
        problems=problems,
    )
