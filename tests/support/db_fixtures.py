"""Fixtures that give a test an empty, migrated database: SQLite or PostgreSQL.

``database`` is parametrised over both, so every storage test runs on both.
Import these names into a conftest::

    from support.db_fixtures import database, database_url, db_backend, postgres_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.postgres import TEMPLATE, PostgresServer, postgres_server

__all__ = ["database", "database_url", "db_backend", "postgres_server"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of an empty database with the current schema, on the chosen backend."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'ai-core.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(template=TEMPLATE)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def database(database_url: str) -> Iterator[object]:
    from ai_core.storage.database import Database

    db = Database.open(database_url)
    try:
        yield db
    finally:
        db.close()
