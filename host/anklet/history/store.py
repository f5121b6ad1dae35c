"""The training history: every session folder indexed in a database, SQLite in the user's data
directory by default, or a shared PostgreSQL server by URL (`--db`, ANKLET_DB_URL).

    store = HistoryStore()                          # or HistoryStore("postgresql://clinic/anklet")
    report = store.sync(Path("sessions"))           # new, changed and removed folders
    rows = store.find(Filters(athlete="Ana", exercise="seated-knee-extension"))
    reps = store.reps_of([row["id"] for row in rows])

The folders stay the source of truth: indexing is idempotent (a folder whose files did not
change is not read again), and `rebuild` makes the index anew from them at any time. A shared
store holds several computers' folders; a computer syncs and rebuilds only its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, delete, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from anklet.connect import data_dir
from anklet.labels import exercise_slug

from .folders import FolderError, SessionRecord, is_session_folder, read_session
from .schema import SCHEMA_VERSION, metadata, reps, sessions, sets, store_info

DB_URL_ENV = "ANKLET_DB_URL"
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


class HistoryError(Exception):
    """The store cannot be opened, read or written; one line a user can act on."""


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # one line each: the folder and why
    problems: list[str] = field(default_factory=list)  # indexed, but part could not be read

    def describe(self) -> str:
        return (
            f"indexed {self.added} new, {self.updated} changed, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped"
        )


@dataclass(frozen=True)
class Filters:
    athlete: str | None = None
    exercise: str | None = None  # a catalogue name or slug, or free text
    side: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


def default_url() -> str:
    return os.environ.get(DB_URL_ENV) or f"sqlite:///{data_dir() / 'history.sqlite'}"


def _engine_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise HistoryError(
            f"--db {url!r}: give a database URL (postgresql://USER@HOST/DB or sqlite:///FILE)"
        )
    return f"{_DRIVERS.get(scheme, scheme)}://{rest}"


class HistoryStore:
    def __init__(self, url: str | None = None, computer: str | None = None) -> None:
        url = url or default_url()
        try:
            self._url = make_url(_engine_url(url))
        except ArgumentError as exc:
            raise HistoryError(f"--db {url!r}: {exc}") from None
        self.where = self._url.render_as_string(hide_password=True)
        self.computer = computer or socket.gethostname()
        self._engine: Engine | None = None

    # --- opening --------------------------------------------------------------------------

    @property
    def _sqlite_file(self) -> Path | None:
        if self._url.get_backend_name() == "sqlite" and self._url.database not in (
            None,
            ":memory:",
        ):
            return Path(str(self._url.database))
        return None

    def _open(self) -> Engine:
        if self._engine is None:
            if (path := self._sqlite_file) is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._engine = create_engine(self._url)
            except (ArgumentError, SQLAlchemyError, ImportError) as exc:
                raise HistoryError(f"history store {self.where}: {_first_line(exc)}") from None
        return self._engine

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction; any database failure becomes one HistoryError line."""
        try:
            with self._open().begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise HistoryError(f"history store {self.where}: {_first_line(exc)}") from None

    def _prepare(self, conn: Connection) -> None:
        metadata.create_all(conn)
        version = conn.execute(
            select(store_info.c.value).where(store_info.c.key == "schema_version")
        ).scalar()
        if version is None:
            conn.execute(insert(store_info).values(key="schema_version", value=str(SCHEMA_VERSION)))
        elif version != str(SCHEMA_VERSION):
            raise HistoryError(
                f"history store {self.where} has tables of schema {version}, this anklet "
                f"uses {SCHEMA_VERSION}: run anklet history --rebuild"
            )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # --- indexing -------------------------------------------------------------------------

    def sync(self, root: Path) -> SyncReport:
        """Index the session folders in `root`: new and changed ones are read, removed ones
        leave the index; folders whose files did not change are not read again."""
        if not root.is_dir():
            raise HistoryError(
                f"{root}: no such folder of sessions (record one with anklet log, or give "
                "--sessions DIR)"
            )
        root = root.resolve()
        report = SyncReport()
        with self._begin() as conn:
            self._prepare(conn)
            known = {
                row.path: (row.id, row.fingerprint)
                for row in conn.execute(
                    select(sessions.c.id, sessions.c.path, sessions.c.fingerprint).where(
                        and_(sessions.c.computer == self.computer, sessions.c.root == str(root))
                    )
                )
            }
        seen = set()
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and is_session_folder(p)):
            path = str(folder.resolve())
            seen.add(path)
            old = known.get(path)
            try:
                record = read_session(folder)
            except FolderError as exc:
                report.skipped.append(str(exc))
                if old is not None:  # unreadable now: it leaves the index, said so
                    with self._begin() as conn:
                        _delete_sessions(conn, [old[0]])
                continue
            if old is not None and old[1] == record.fingerprint:
                report.unchanged += 1
                continue
            with self._begin() as conn:
                if old is not None:
                    _delete_sessions(conn, [old[0]])
                self._insert(conn, str(root), record)
            if record.problem:
                report.problems.append(f"{folder}: {record.problem}")
            if old is None:
                report.added += 1
            else:
                report.updated += 1
        gone = [sid for path, (sid, _) in known.items() if path not in seen]
        if gone:
            with self._begin() as conn:
                _delete_sessions(conn, gone)
            report.removed = len(gone)
        return report

    def rebuild(self, root: Path) -> SyncReport:
        """The index made anew from the folders: a local SQLite file is started again (also
        one damaged or of another schema); a shared store drops this computer's sessions."""
        self.close()
        if (path := self._sqlite_file) is not None:
            for stale in (path, path.with_name(path.name + "-journal")):
                stale.unlink(missing_ok=True)
        else:
            with self._begin() as conn:
                version = None
                if conn.dialect.has_table(conn, store_info.name):
                    version = conn.execute(
                        select(store_info.c.value).where(store_info.c.key == "schema_version")
                    ).scalar()
                if version is not None and version != str(SCHEMA_VERSION):
                    metadata.drop_all(conn)
                else:
                    self._prepare(conn)
                    ids = conn.execute(
                        select(sessions.c.id).where(sessions.c.computer == self.computer)
                    ).scalars()
                    _delete_sessions(conn, list(ids))
        return self.sync(root)

    def _insert(self, conn: Connection, root: str, record: SessionRecord) -> None:
        labels = record.labels
        values = {
            "computer": self.computer,
            "root": root,
            "path": str(record.path),
            "name": record.name,
            "fingerprint": record.fingerprint,
            "started_utc": record.started_utc,
            "duration_s": record.duration_s,
            "device": record.device,
            "complete": record.complete,
            "exercise": labels.exercise,
            "side": labels.side,
            "athlete": labels.athlete,
            "load_kg": labels.load_kg,
            "note": labels.note,
            "source": record.source,
            "flags": " | ".join(record.flags),
            "problem": record.problem,
            **record.summary,
        }
        session_id = conn.execute(insert(sessions).values(values).returning(sessions.c.id)).scalar()
        if record.sets:
            conn.execute(insert(sets), [{"session_id": session_id, **s} for s in record.sets])
        if record.reps:
            conn.execute(insert(reps), [{"session_id": session_id, **r} for r in record.reps])

    # --- reading --------------------------------------------------------------------------

    def find(self, filters: Filters = Filters()) -> list[dict[str, Any]]:
        """Sessions matching every filter given, oldest first."""
        query = select(sessions).order_by(sessions.c.started_utc, sessions.c.name)
        if filters.athlete:
            query = query.where(func.lower(sessions.c.athlete) == filters.athlete.strip().lower())
        if filters.exercise:
            query = query.where(sessions.c.exercise == exercise_slug(filters.exercise))
        if filters.side:
            query = query.where(sessions.c.side == filters.side)
        if filters.since:
            query = query.where(
                sessions.c.started_utc >= datetime.combine(filters.since, _MIDNIGHT)
            )
        if filters.until:
            end = datetime.combine(filters.until + timedelta(days=1), _MIDNIGHT)
            query = query.where(sessions.c.started_utc < end)
        with self._begin() as conn:
            self._prepare(conn)
            return [dict(row._mapping) for row in conn.execute(query)]

    def reps_of(self, session_ids: list[int]) -> list[dict[str, Any]]:
        query = (
            select(reps)
            .where(reps.c.session_id.in_(session_ids))
            .order_by(reps.c.session_id, reps.c.set_index, reps.c.rep_index)
        )
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def sets_of(self, session_ids: list[int]) -> list[dict[str, Any]]:
        query = (
            select(sets)
            .where(sets.c.session_id.in_(session_ids))
            .order_by(sets.c.session_id, sets.c.set_index)
        )
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


_MIDNIGHT = datetime.min.time()


def _delete_sessions(conn: Connection, ids: list[int]) -> None:
    if not ids:
        return
    for table in (reps, sets):
        conn.execute(delete(table).where(table.c.session_id.in_(ids)))
    conn.execute(delete(sessions).where(sessions.c.id.in_(ids)))


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
