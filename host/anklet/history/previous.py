"""The previous session of the same exercise, for a report's comparison.

    folder = previous_session(Path("sessions/Anklet-FFEE-20261201-114940"))   # or None

Looks in the training history after indexing the session's own sessions folder: the latest
session started before this one with the same exercise, athlete and side (those the session
has). Only a labelled session has an exercise to match.
"""

from __future__ import annotations

from pathlib import Path

from .folders import read_session
from .store import Filters, HistoryStore


def previous_session(folder: Path, db_url: str | None = None) -> Path | None:
    this = read_session(folder)
    labels = this.labels
    if not labels.exercise or this.started_utc is None:
        return None
    store = HistoryStore(db_url)
    try:
        store.sync(this.path.parent)
        rows = store.find(
            Filters(athlete=labels.athlete, exercise=labels.exercise, side=labels.side)
        )
    finally:
        store.close()
    earlier = [
        r
        for r in rows
        if r["started_utc"] is not None
        and r["started_utc"] < this.started_utc
        and Path(r["path"]) != this.path
        and Path(r["path"]).is_dir()
    ]
    if not earlier:
        return None
    return Path(max(earlier, key=lambda r: r["started_utc"])["path"])
