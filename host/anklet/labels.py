"""What a session was: the exercise, the side, the athlete, the strap weight and a note, kept in the
session folder's session.json under one key, "labels".

    labels = make_labels(exercise="knee extension", side="left", athlete="Ana", load_kg="2.5")
    attach_labels(session_log, labels)       # at session start: every session.json carries them
    write_labels(Path("sessions/Anklet-FFEE-20261127-101500"), labels)   # or fix them afterwards

Exercises come from a small catalogue of ankle-weight exercises (a name or its slug, any case),
or are free text; free text that is one typo away from a catalogue name is refused, so that
"knee extention" does not start a history of its own.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

LABELS_KEY = "labels"
SESSION_FILE = "session.json"

#: slug -> the name a person reads
EXERCISES: dict[str, str] = {
    "seated-knee-extension": "seated knee extension",
    "standing-hip-abduction": "standing hip abduction",
    "prone-hamstring-curl": "prone hamstring curl",
    "straight-leg-raise": "straight-leg raise",
    "donkey-kick": "donkey kick",
    "side-lying-leg-raise": "side-lying leg raise",
}
SIDES = ("left", "right", "both")
MAX_LOAD_KG = 50.0  # ankle weights stop far below; a larger figure is a typo (grams?)
_MAX_TEXT = {"exercise": 60, "athlete": 60, "note": 500}
_FIELDS = ("exercise", "side", "athlete", "load_kg", "note")


class LabelError(ValueError):
    """A label that cannot be stored, or a session folder whose labels cannot be read; one line."""


@dataclass(frozen=True)
class Labels:
    exercise: str | None = None  # a catalogue slug, or free text
    side: str | None = None  # left, right or both
    athlete: str | None = None
    load_kg: float | None = None  # the strap weight
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Labels:
        """Labels read back from session.json, checked as when they were given."""
        if not isinstance(data, dict):
            raise LabelError(f'"{LABELS_KEY}" is not an object')
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise LabelError(f'"{LABELS_KEY}" has unknown fields: {", ".join(unknown)}')
        load = data.get("load_kg")
        if load is not None and (isinstance(load, bool) or not isinstance(load, int | float)):
            raise LabelError(f"load_kg {load!r} is not a number")
        return make_labels(
            exercise=data.get("exercise"),
            side=data.get("side"),
            athlete=data.get("athlete"),
            load_kg=None if load is None else str(load),
            note=data.get("note"),
        )

    def updated(self, changes: Labels, cleared: tuple[str, ...] = ()) -> Labels:
        """These labels with the fields `changes` sets replaced and the `cleared` ones removed."""
        given = {k: v for k, v in changes.to_dict().items() if v is not None}
        given.update(dict.fromkeys(cleared))
        return replace(self, **given)

    @property
    def exercise_name(self) -> str:
        """The exercise as a person reads it (the catalogue name, or the free text)."""
        return EXERCISES.get(self.exercise or "", self.exercise or "")


def _slug(text: str) -> str:
    return "-".join(text.lower().replace("_", " ").replace("-", " ").split())


def exercise_slug(text: str) -> str:
    """A catalogue slug for a catalogue name or slug; free text as given (trimmed);
    LabelError for free text one typo from a catalogue entry."""
    text = _text("exercise", text)
    slug = _slug(text)
    if slug in EXERCISES:
        return slug
    close = difflib.get_close_matches(slug, EXERCISES, n=1, cutoff=0.85)
    if close:
        raise LabelError(
            f"exercise {text!r} is not in the catalogue: did you mean {close[0]}? "
            f"(catalogue: {', '.join(EXERCISES)}; other free text is kept as given)"
        )
    return text


def _text(field: str, value: str) -> str:
    if not isinstance(value, str):
        raise LabelError(f"{field} {value!r} is not text")
    value = value.strip()
    if not value:
        raise LabelError(f"{field} is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise LabelError(f"{field} {value!r} holds control characters")
    limit = _MAX_TEXT[field]
    if len(value) > limit:
        raise LabelError(f"{field} is {len(value)} characters long: at most {limit}")
    return value


def _load_kg(value: str) -> float:
    try:
        load = float(value)
    except (TypeError, ValueError):
        raise LabelError(f"load_kg {value!r} is not a number of kilograms") from None
    if not math.isfinite(load) or not 0 <= load <= MAX_LOAD_KG:
        raise LabelError(f"load_kg {value}: give the strap weight in kg, 0 to {MAX_LOAD_KG:g}")
    return round(load, 3)


def make_labels(
    exercise: str | None = None,
    side: str | None = None,
    athlete: str | None = None,
    load_kg: str | float | None = None,
    note: str | None = None,
) -> Labels:
    """Labels from what a person typed; None leaves a field unset. Raises LabelError."""
    if side is not None:
        side = str(side).strip().lower()
        if side not in SIDES:
            raise LabelError(f"side {side!r}: use {', '.join(SIDES[:-1])} or {SIDES[-1]}")
    return Labels(
        exercise=None if exercise is None else exercise_slug(exercise),
        side=side,
        athlete=None if athlete is None else _text("athlete", athlete),
        load_kg=None if load_kg is None else _load_kg(str(load_kg)),
        note=None if note is None else _text("note", note),
    )


class _Annotated(Protocol):
    def annotate(self, key: str, value: Any) -> None: ...


def attach_labels(session_log: _Annotated, labels: Labels) -> None:
    """At session start (a session.SessionLog, before its first session.json): every
    session.json the recorder writes then carries the labels."""
    session_log.annotate(LABELS_KEY, labels.to_dict())


def read_session_json(folder: Path) -> dict[str, Any]:
    path = folder / SESSION_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelError(f"{folder}: not a session folder (no {SESSION_FILE})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LabelError(f"{path}: unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise LabelError(f"{path}: not a JSON object")
    return meta


def read_labels(folder: Path) -> Labels:
    """The labels of a session folder; empty labels when it has none."""
    meta = read_session_json(folder)
    if meta.get(LABELS_KEY) is None:
        return Labels()
    try:
        return Labels.from_dict(meta[LABELS_KEY])
    except LabelError as exc:
        raise LabelError(f"{folder / SESSION_FILE}: {exc}") from None


def write_session_json(folder: Path, meta: dict[str, Any]) -> None:
    """Replace the folder's session.json atomically (a crash leaves the old one or the new)."""
    _write_json_atomic(folder / SESSION_FILE, meta)


def write_labels(folder: Path, labels: Labels) -> None:
    """Store `labels` in the folder's session.json, everything else in it kept; atomic
    (a crash leaves the old file or the new one, never half of one)."""
    meta = read_session_json(folder)
    meta[LABELS_KEY] = labels.to_dict()
    _write_json_atomic(folder / SESSION_FILE, meta)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a power cut
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LabelError(f"{path}: not written ({exc.strerror or exc})") from None
