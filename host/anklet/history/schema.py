"""The history store's tables, defined once (SQLAlchemy Core); the same definition makes them in
SQLite and in PostgreSQL. The set and rep columns are the session folder's sets.csv and reps.csv
columns (analysis/tables.py), so a column added there is indexed without an edit here.

    metadata.create_all(engine)
    sessions.c.athlete, reps.c.rom_deg
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from anklet.analysis.tables import REP_COLUMNS, SET_COLUMNS

#: bumped when a table changes: a store made by another version is rebuilt from the folders
SCHEMA_VERSION = 1

metadata = MetaData()

store_info = Table(
    "anklet_store",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", String(255), nullable=False),
)

sessions = Table(
    "anklet_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Where the folder is: a shared store holds several computers' folders, each computer
    # syncs (and removes) only its own.
    Column("computer", String(255), nullable=False),
    Column("root", String(1024), nullable=False),  # the sessions folder that was scanned
    Column("path", String(1024), nullable=False),
    Column("name", String(255), nullable=False, index=True),  # the folder's name
    Column("fingerprint", String(64), nullable=False),  # of its files: changed -> re-indexed
    Column("started_utc", DateTime, index=True),  # naive, in UTC
    Column("duration_s", Float),
    Column("device", String(64)),
    Column("complete", Boolean),
    Column("exercise", String(60), index=True),
    Column("side", String(8)),
    Column("athlete", String(60), index=True),
    Column("load_kg", Float),
    Column("note", Text),
    Column("source", String(16), nullable=False),  # tables, analysis (in session.json) or none
    Column("set_count", Integer, nullable=False),
    Column("rep_count", Integer, nullable=False),
    Column("mean_rom_deg", Float),
    Column("mean_speed_dps", Float),  # mean lifting (concentric) angular velocity per rep
    Column("time_under_tension_s", Float),
    Column("concentric_s", Float),  # mean tempo per rep: up, hold, down
    Column("hold_s", Float),
    Column("eccentric_s", Float),
    Column("sway_deg", Float),
    Column("flags", Text, nullable=False),  # " | " between flags
    Column("problem", Text, nullable=False),  # what could not be read (labels, tables), or ""
    UniqueConstraint("computer", "path"),
)

_SET_INTS = {"set_index", "reps"}
_SET_TEXT = {"flags"}
sets = Table(
    "anklet_sets",
    metadata,
    Column("session_id", Integer, ForeignKey(sessions.c.id), primary_key=True),
    *[
        Column(
            name,
            Integer if name in _SET_INTS else Text if name in _SET_TEXT else Float,
            primary_key=name == "set_index",
        )
        for name in SET_COLUMNS
    ],
)

_REP_KEYS = {"set_index", "rep_index"}
reps = Table(
    "anklet_reps",
    metadata,
    Column("session_id", Integer, ForeignKey(sessions.c.id), primary_key=True, index=True),
    *[
        Column(name, Integer if name in _REP_KEYS else Float, primary_key=name in _REP_KEYS)
        for name in REP_COLUMNS
    ],
)
