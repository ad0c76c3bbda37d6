"""Apply and inspect Alembic migrations programmatically.

Migrations run under a lock so two processes opening a fresh database at once
do not both create it: a file lock beside a SQLite file (plus the in-process
writer lock), a transaction-scoped advisory lock on PostgreSQL.

A database at a revision these scripts do not know was written by a newer
ai-core: it is refused with a :class:`~ai_core.errors.StorageError` that says to
upgrade ai-core (never ``ai db upgrade``, which cannot help and must not touch it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ai_core.errors import ConfigurationError, StorageError
from ai_core.migrations import HEAD, SCRIPT_LOCATION

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["current", "head", "is_known", "refuse_unknown", "require_current", "revisions", "upgrade"]

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


def revisions() -> list[str]:
    """Every revision this ai-core ships, oldest first."""
    from alembic.script import ScriptDirectory

    return [script.revision for script in reversed(list(ScriptDirectory(str(SCRIPT_LOCATION)).walk_revisions()))]


def is_known(revision: str | None) -> bool:
    """Whether ``revision`` (None: an empty database) is one this ai-core can work with or upgrade."""
    return revision is None or revision == HEAD or revision in revisions()


def refuse_unknown(database: Database, at: str | None) -> None:
    """Raise a StorageError saying "upgrade ai-core" when the database is at a revision this code does not know."""
    if not is_known(at):
        raise StorageError(
            f"database {database.display_url} is at schema revision {at}, which this ai-core does not know "
            f"(it knows up to {HEAD}): it was written by a newer ai-core; upgrade ai-core "
            "(pip install -U ai-core), or point AI_DATABASE_URL at another database",
            database=database.display_url,
        )


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
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # private, like the database beside it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def upgrade(database: Database, revision: str = "head") -> str | None:
    """Bring the schema to ``revision`` (newest by default); return the new revision.

    An unknown ``revision`` is a ConfigurationError listing the known ones; a
    database at a revision newer than this code is a StorageError (see above).
    """
    at = current(database)
    if revision in ("head", HEAD) and at == HEAD:
        return HEAD
    refuse_unknown(database, at)
    if revision != "head" and revision not in revisions():
        raise ConfigurationError(
            f"unknown schema revision {revision!r}: use head or one of {', '.join(revisions())} "
            "(`ai db current` shows where the database is)"
        )
    from alembic import command
    from alembic.util import CommandError

    with _file_lock(database), database.write() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        at = _current_on(conn)
        refuse_unknown(database, at)
        if at != HEAD or revision not in ("head", HEAD):
            try:
                command.upgrade(_config(conn), revision)
            except CommandError as exc:  # e.g. a revision older than the database (that would be a downgrade)
                raise ConfigurationError(
                    f"cannot upgrade {database.display_url} from {at or 'empty'} to {revision}: {exc}"
                ) from None
        return _current_on(conn)


def require_current(database: Database) -> None:
    """Refuse a server database whose schema is not the one this code expects."""
    at = current(database)
    refuse_unknown(database, at)
    if at != HEAD:
        raise ConfigurationError(
            f"database {database.display_url} is at schema revision {at or 'none (empty)'}, "
            f"this ai-core needs {HEAD}: run `ai db upgrade`"
        )
