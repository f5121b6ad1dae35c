"""The training history: session folders indexed in SQLite (or PostgreSQL), weekly progress and
two sessions side by side. The folders stay the source of truth (see store.py)."""

from .folders import FolderError, SessionRecord, read_session
from .store import DB_URL_ENV, Filters, HistoryError, HistoryStore, SyncReport

__all__ = [
    "DB_URL_ENV",
    "Filters",
    "FolderError",
    "HistoryError",
    "HistoryStore",
    "SessionRecord",
    "SyncReport",
    "read_session",
]
