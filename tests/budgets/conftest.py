from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from servers.fixtures import _openai_server_session, openai_server  # noqa: F401
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "memory"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """Where budget counters live: an empty SQLite or PostgreSQL database, or None (in memory)."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        target = tmp_path / "ai-core.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    from support.db_fixtures import _truncate_all
    from support.postgres import TEMPLATE

    server = request.getfixturevalue("postgres_server")
    _truncate_all(server)
    return str(server.url(TEMPLATE))
