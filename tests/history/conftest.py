"""Fixtures for the history tests: sessions recorded once from the simulated board (over serial
and over BLE), a week of labelled sessions made from them, and the store on SQLite or on a
real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anklet.history.schema import metadata
from historyhelpers import make_week, record_all
from pgserver import PostgresServer
from sqlalchemy import create_engine


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recordings")
    with pytest.MonkeyPatch.context() as env:  # bonds and such land here, not in the user's
        env.setenv("ANKLET_DATA_DIR", str(root / "data"))
        env.delenv("ANKLET_DB_URL", raising=False)
        return record_all(root)


@pytest.fixture
def week(recordings: dict[str, Path], tmp_path: Path) -> Path:
    sessions = tmp_path / "sessions"
    make_week(recordings, sessions)
    return sessions


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except (RuntimeError, KeyError, OSError) as exc:  # a missing server is a failure, not a skip
        pytest.fail(f"PostgreSQL for the history tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's URL: a fresh SQLite file, or a real PostgreSQL server's database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.url()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's own history."""
    monkeypatch.setenv("ANKLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ANKLET_DB_URL", raising=False)
