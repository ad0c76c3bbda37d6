"""Apply and inspect Alembic migrations programmatically.

Migrations run under a lock so two processes opening a fresh database at once
do not both create it: a file lock beside a SQLite file (plus the in-process
writer lock), a transaction-scoped advisory lock on PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ai_core.errors import ConfigurationError
from ai_core.migrations import HEAD, SCRIPT_LOCATION

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["current", "head", "require_current", "upgrade"]

_PG_LOCK_KEY = 0x61692D636F7265  # "ai-core"


def _config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def _current_on(connection: Connection) -> str | None:
    from sqlalchemy import inspect

    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def current(database: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with database.read() as conn:
        return _current_on(conn)


def head() -> str:
    """The newest revision this ai-core ships (from the scripts themselves)."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head())


@contextlib.contextmanager
def _file_lock(database: Database) -> Iterator[None]:
    path = database.url.database
    if not database.is_sqlite or not path or path == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the busy timeout has to do
        yield
        return
    lock_path = Path(path).expanduser().with_name(Path(path).name + ".migrate-lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(database: Database, revision: str = "head") -> str | None:
    """Bring the schema to ``revision`` (newest by default); return the new revision."""
    if revision in ("head", HEAD) and current(database) == HEAD:
        return HEAD
    from alembic import command

    with _file_lock(database), database.write() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        if _current_on(conn) != HEAD or revision not in ("head", HEAD):
            command.upgrade(_config(conn), revision)
        return _current_on(conn)


def require_current(database: Database) -> None:
    """Refuse a server database whose schema is not the one this code expects."""
    at = current(database)
    if at != HEAD:
        raise ConfigurationError(
            f"database {database.display_url} is at schema revision {at or 'none (empty)'}, "
            f"this ai-core needs {HEAD}: run `ai db upgrade`"
        )
