"""Read one session folder into what the history store indexes: its labels, its start, its sets
and reps (sets.csv and reps.csv, else the "analysis" summary in session.json) and a summary.

    record = read_session(Path("sessions/Anklet-FFEE-20261127-101500"))
    record.labels.exercise, record.started_utc, record.reps[0]["rom_deg"]
    record.summary["rep_count"]

The folders are the source of truth: nothing here writes to them.
"""

from __future__ import annotations

import csv
import hashlib
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anklet.analysis.tables import REP_COLUMNS, SET_COLUMNS
from anklet.labels import LABELS_KEY, SESSION_FILE, LabelError, Labels, read_session_json

_TABLE_FILES = ("sets.csv", "reps.csv")
_INT_COLUMNS = {"set_index", "rep_index", "reps"}
# the analysis summary's field names (results.RepSet) where they differ from sets.csv's
_SET_FIELDS = {"set_index": "index", "reps": "rep_count"}


class FolderError(ValueError):
    """A folder that cannot be indexed; the message is one line naming it."""


@dataclass
class SessionRecord:
    path: Path
    name: str
    fingerprint: str
    started_utc: datetime | None  # naive, UTC
    duration_s: float | None
    device: str | None
    complete: bool | None
    labels: Labels
    source: str  # "tables", "analysis" or "none"
    sets: list[dict[str, Any]] = field(default_factory=list)
    reps: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    problem: str = ""  # what could not be read (it is indexed without it)

    @property
    def summary(self) -> dict[str, Any]:
        """Per-session figures: counts, mean ROM, lifting speed and tempo per rep, TUT, sway."""
        return {
            "set_count": len(self.sets),
            "rep_count": len(self.reps),
            "mean_rom_deg": _mean(r["rom_deg"] for r in self.reps),
            "mean_speed_dps": _mean(r["concentric_mean_velocity_dps"] for r in self.reps),
            "time_under_tension_s": _sum(s["time_under_tension_s"] for s in self.sets),
            "concentric_s": _mean(r["concentric_s"] for r in self.reps),
            "hold_s": _mean(r["hold_s"] for r in self.reps),
            "eccentric_s": _mean(r["eccentric_s"] for r in self.reps),
            "sway_deg": _mean(r["sway_deg"] for r in self.reps),
        }


def _mean(values: Any) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.fmean(got), 3) if got else None


def _sum(values: Any) -> float | None:
    got = [v for v in values if v is not None]
    return round(sum(got), 3) if got else None


def fingerprint(folder: Path) -> str:
    """Changes whenever session.json, sets.csv or reps.csv is written again."""
    h = hashlib.sha256()
    for name in (SESSION_FILE, *_TABLE_FILES):
        try:
            st = (folder / name).stat()
        except FileNotFoundError:
            h.update(f"{name}:-;".encode())
            continue
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:32]


def is_session_folder(folder: Path) -> bool:
    return (folder / SESSION_FILE).is_file()


def read_session(folder: Path) -> SessionRecord:
    """Raises FolderError when session.json cannot be read; labels or tables that cannot be
    read leave the session indexed without them, the reason in `problem`."""
    folder = folder.resolve()
    print_fp = fingerprint(folder)
    try:
        meta = read_session_json(folder)
    except LabelError as exc:
        raise FolderError(str(exc)) from None
    problems = []
    try:
        labels = Labels.from_dict(meta[LABELS_KEY]) if meta.get(LABELS_KEY) else Labels()
    except LabelError as exc:
        labels = Labels()
        problems.append(f"labels: {exc}")
    device = meta.get("device")
    record = SessionRecord(
        path=folder,
        name=folder.name,
        fingerprint=print_fp,
        started_utc=_started(meta.get("started_utc")),
        duration_s=_number(meta.get("duration_s")),
        device=str(device.get("name")) if isinstance(device, dict) else None,
        complete=meta.get("complete") if isinstance(meta.get("complete"), bool) else None,
        labels=labels,
        source="none",
    )
    if record.started_utc is None:
        problems.append(f"started_utc {meta.get('started_utc')!r} is not a date")
    try:
        _read_training(folder, meta, record)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        record.sets, record.reps, record.source = [], [], "none"
        problems.append(f"sets and reps: {exc}")
    record.problem = "; ".join(problems)
    return record


def _started(text: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _cell(column: str, text: str | None) -> Any:
    if column == "flags":
        return text or ""
    if text is None or text == "":
        return None
    return int(text) if column in _INT_COLUMNS else float(text)


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path.name} lacks the columns {', '.join(missing)}")
        return [{c: _cell(c, row[c]) for c in columns} for row in reader]


def _read_training(folder: Path, meta: dict[str, Any], record: SessionRecord) -> None:
    if all((folder / name).is_file() for name in _TABLE_FILES):
        record.sets = _read_csv(folder / "sets.csv", SET_COLUMNS)
        record.reps = _read_csv(folder / "reps.csv", REP_COLUMNS)
        record.source = "tables"
        record.flags = [f for s in record.sets for f in s["flags"].split(" | ") if f]
        analysis = meta.get("analysis")
        if isinstance(analysis, dict):  # session-wide flags live only in the summary
            record.flags += [f for f in analysis.get("flags", []) if f not in record.flags]
        return
    analysis = meta.get("analysis")
    if not isinstance(analysis, dict):
        return
    for s in analysis.get("sets", []):
        record.sets.append(
            {
                c: " | ".join(s.get("flags", []))
                if c == "flags"
                else _value(c, s.get(_SET_FIELDS.get(c, c)))
                for c in SET_COLUMNS
            }
        )
        for r in s.get("reps", []):
            rep = {c: _value(c, r.get(c)) for c in REP_COLUMNS[2:]}
            record.reps.append({"set_index": s["index"], "rep_index": r["index"], **rep})
    record.flags = [str(f) for f in analysis.get("flags", [])]
    record.source = "analysis"


def _value(column: str, value: Any) -> Any:
    if value is None:
        return None
    return int(value) if column in _INT_COLUMNS else float(value)
