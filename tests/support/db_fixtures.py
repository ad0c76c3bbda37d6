"""Fixtures that give a test an empty, migrated database: SQLite or PostgreSQL.

SQLite tests copy a migrated file; PostgreSQL tests share one migrated database
that is truncated before each test (tests of one session run one at a time).

``database`` is parametrised over both, so every storage test runs on both.
Import these names into a conftest::

    from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import TEMPLATE, PostgresServer, postgres_server

__all__ = ["database", "database_url", "db_backend", "postgres_server", "sqlite_template"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def _sqlite_template_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's one migrated SQLite file (tests/conftest.py registers this once for the tree)."""
    from ai_core.storage.database import Database

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    Database.open(f"sqlite:///{path}").close()
    return path


@pytest.fixture(scope="session")
def sqlite_template(_sqlite_template_session: Path) -> Path:
    """A migrated SQLite file that tests copy instead of migrating each time (one per session:
    see ``postgres_server`` for why the work is in a fixture of another name)."""
    return _sqlite_template_session


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of an empty database with the current schema, on the chosen backend."""
    if db_backend == "sqlite":
        target = tmp_path / "ai-core.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    _truncate_all(server)
    yield server.url(TEMPLATE)


def _truncate_all(server: PostgresServer) -> None:
    """Empty every table of the schema: much cheaper than a database per test."""
    import psycopg

    from ai_core.storage.models import metadata

    # DELETE, children first: TRUNCATE makes new files per table and is slower on tiny tables.
    statements = "; ".join(f'DELETE FROM "{table.name}"' for table in reversed(metadata.sorted_tables))
    address = {"host": server.host, "port": server.port, "user": server.user}
    with psycopg.connect(**address, dbname=TEMPLATE, autocommit=True) as conn:
        conn.execute(statements)  # type: ignore[arg-type]


@pytest.fixture
def database(database_url: str) -> Iterator[object]:
    from ai_core.storage.database import Database

    db = Database.open(database_url)
    try:
        yield db
    finally:
        db.close()
