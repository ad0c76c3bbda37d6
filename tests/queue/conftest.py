"""The queue tests' fixtures: real Redis, real databases, and this folder importable
(``qtest_listeners`` must have the same module name in the test process as in the workers)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401
from support.redis_server import redis_server, redis_url  # noqa: F401

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from queue_harness import Stack, make_stack  # noqa: E402


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, sqlite_template: Path) -> Iterator[Stack]:  # noqa: F811
    shutil.copyfile(sqlite_template, tmp_path / "ai.db")  # migrated once per session, not per process
    yield from make_stack(tmp_path, redis_url)


@pytest.fixture
def any_db_stack(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Stack]:  # noqa: F811
    """A stack on SQLite and on PostgreSQL (the ``database_url`` parameters)."""
    yield from make_stack(tmp_path, redis_url, db_url=database_url)


@pytest.fixture(autouse=True)
def _no_queue_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue configured in the environment must not leak into a test that expects none."""
    monkeypatch.delenv("AI_QUEUE_URL", raising=False)
    monkeypatch.delenv("AI_QUEUE", raising=False)
    import qtest_listeners

    qtest_listeners.LOCAL_CALLS.clear()  # what ran in this process, per test
