"""The SQL database: one engine, work run in worker threads, migrations.

Design: SQLAlchemy's *sync* engine (stdlib ``sqlite3``; psycopg 3 for
PostgreSQL) driven from worker threads with ``anyio.to_thread.run_sync`` under
a dedicated capacity limiter. SQLAlchemy's asyncio extension runs only on
asyncio, and ai-core supports both anyio backends (asyncio and trio); a thread
per statement batch keeps the event loop free on either.

SQLite is tuned for one process with many tasks and a few processes beside
it: WAL (readers never wait for the writer), a busy timeout, ``BEGIN
IMMEDIATE`` for writes (no lock-upgrade deadlocks between processes) and one
in-process writer lock, so concurrent writers queue instead of failing with
"database is locked".

Files: ai-core creates the SQLite file (and so its -wal and -shm files, which
SQLite creates with the database file's mode) with mode 0600, and the data
directory with mode 0700 when it creates it; files that already exist keep
their mode (``ai -v`` says when others can read the database).

Errors: anything that stops the database from opening (a bad path, a directory
or a foreign file where the database should be, a server that is down, a
locked, full or read-only database) is a :class:`~ai_core.errors.StorageError`
whose one-line message says what to do; :func:`storage_error` makes the same
message for a SQLAlchemy error raised later, which carries the database it
happened on (``ai_core_database``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from ai_core.errors import AIError, ConfigurationError, StorageError
from ai_core.storage.autocommit import AutocommitConnections
from ai_core.storage.money import register_sqlite_functions
from ai_core.storage.sqlite_writer import Checkpointer, WriteBusy, begin_now
from ai_core.storage.urls import display_url, resolve_url

if TYPE_CHECKING:
    from ai_core.costs import PriceBook
    from ai_core.storage.conversation_store import SQLConversationStore
    from ai_core.storage.fastsql import RawTransaction

__all__ = ["Database", "storage_error"]

T = TypeVar("T")

_SQLITE_THREADS = 8
_SERVER_THREADS = 16
_DEFAULT_BUSY_TIMEOUT = 30.0


class Database:
    """An open database. Create with :meth:`open`; close with :meth:`close`/:meth:`aclose`."""

    def __init__(self, engine: Engine, url: URL, *, threads: int, busy_timeout: float = _DEFAULT_BUSY_TIMEOUT) -> None:
        self.engine = engine
        self.url = url
        self.dialect: str = engine.dialect.name
        self._threads = threads
        self._limiters: weakref.WeakKeyDictionary[Any, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()
        self._limiters_lock = threading.Lock()
        self._batchers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        in_memory = self.is_sqlite and url.database in (None, "", ":memory:")
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        # One shared connection for an in-memory database: reads must queue too.
        self._read_lock = self._write_lock if in_memory else None
        # File SQLite: writes are serialised by the lock anyway, so they keep one pooled
        # connection instead of a checkout, reset and checkin per transaction.
        self._keeps_writer = self.is_sqlite and not in_memory
        self._writer: Any = None
        self._busy_ms = max(1, round(busy_timeout * 1000))
        self._checkpointer = Checkpointer(self.engine.raw_connection)
        self.autocommit = AutocommitConnections(self.engine, size=threads)
        self._closed = False

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls, url: str | None = None, settings: Any = None, *, migrate: bool | None = None, echo: bool = False
    ) -> Database:
        """Open ``url`` (or the configured database, or SQLite in the data directory).

        ``migrate=None`` applies Alembic migrations automatically for SQLite, and
        for a server database only checks it is current (``ai db upgrade``
        upgrades it); ``True`` always upgrades, ``False`` never touches the schema.
        """
        resolved = resolve_url(url, settings)
        try:
            return cls._open(resolved, settings, migrate=migrate, echo=echo)
        except AIError:
            raise
        except SQLAlchemyError as exc:
            raise storage_error(exc, display_url(resolved)) from exc
        except OSError as exc:
            raise _os_storage_error(exc, display_url(resolved)) from exc

    @classmethod
    def _open(cls, resolved: URL, settings: Any, *, migrate: bool | None, echo: bool) -> Database:
        busy_timeout: float | None = None
        if resolved.get_backend_name() == "sqlite":
            busy_timeout = _busy_timeout(settings)
            engine, threads = _sqlite_engine(resolved, echo, busy_timeout), _SQLITE_THREADS
        elif resolved.get_backend_name() == "postgresql":
            threads = _SERVER_THREADS
            try:
                engine = create_engine(resolved, echo=echo, pool_size=threads, max_overflow=4, pool_pre_ping=True)
            except ModuleNotFoundError as exc:
                raise ConfigurationError(
                    f"PostgreSQL needs psycopg 3: pip install 'ai-core[postgres]' ({exc.name} is missing)"
                ) from exc
        else:
            raise ConfigurationError(f"unsupported database {display_url(resolved)!r}: use sqlite:/// or postgresql://")
        _label_errors(engine, display_url(resolved), busy_timeout)
        database = cls(engine, resolved, threads=threads, busy_timeout=busy_timeout or _DEFAULT_BUSY_TIMEOUT)
        try:
            from ai_core.storage import migrate as migrations

            if migrate or (migrate is None and database.is_sqlite):
                migrations.upgrade(database)
            elif migrate is None:
                migrations.require_current(database)
        except BaseException:
            database.close()
            raise
        if database.is_sqlite and resolved.database not in (None, "", ":memory:"):
            _warn_if_readable_by_others(Path(str(resolved.database)).expanduser())
        return database

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    # -- running work ----------------------------------------------------------

    def _limiter(self) -> anyio.CapacityLimiter:
        token = anyio.lowlevel.current_token().native_token
        with self._limiters_lock:
            limiter = self._limiters.get(token)
            if limiter is None:
                limiter = self._limiters[token] = anyio.CapacityLimiter(self._threads)
            return limiter

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the sync ``fn(*args)`` in a worker thread; the event loop never blocks.

        The thread finishes its transaction even if the caller is cancelled, so a
        cancelled save is either wholly written or not at all.
        """
        if self._closed:
            raise ConfigurationError("the database is closed")
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter())

    async def write_job(self, job: Callable[[RawTransaction], T], *, one_statement: bool = False) -> T:
        """Run ``job(tx)`` in a write transaction, off the event loop.

        On SQLite, jobs from concurrent tasks share one transaction (group
        commit, each job in its own SAVEPOINT), written on the event loop when
        no lock is in the way; on a server database every job is its own
        transaction, so writers run in parallel. A job that runs exactly
        ``one_statement`` runs in autocommit there: the statement is the
        transaction, without a BEGIN, a COMMIT or a pipeline around it.
        """
        if not self.is_sqlite and not one_statement:
            return await self.run(self._write_one, job)
        token = anyio.lowlevel.current_token().native_token
        with self._limiters_lock:
            batcher = self._batchers.get(token)
            if batcher is None:
                from ai_core.storage.group_commit import WriteBatcher

                batcher = self._batchers[token] = WriteBatcher(self, statements=not self.is_sqlite)
        result: T = await batcher.submit(job)
        return result

    def _write_one(self, job: Callable[[RawTransaction], T]) -> T:
        with self.raw_write() as tx:
            return job(tx)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on error."""
        lock: AbstractContextManager[Any] = self._write_lock if self._write_lock is not None else nullcontext()
        with lock, self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(ai_sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def raw_write(self, *, wait: bool = True) -> Iterator[RawTransaction]:
        """A write transaction on the pooled DB-API connection, for the hot path
        (:mod:`ai_core.storage.fastsql`): committed on success, rolled back on error.

        ``wait=False`` (file SQLite, from the event loop) raises
        :class:`~ai_core.storage.sqlite_writer.WriteBusy` before any statement
        instead of waiting for a lock or opening a connection."""
        from ai_core.storage.fastsql import RawTransaction

        lock = self._write_lock
        if not wait and (lock is None or self._writer is None or not self._keeps_writer):
            raise WriteBusy
        if lock is not None and not lock.acquire(blocking=wait):
            raise WriteBusy
        try:
            raw = self._writer if self._writer is not None else self._new_writer()
            self._writer = None
            committed = busy = False
            try:
                # On PostgreSQL the statements are pipelined (psycopg's pipeline
                # mode): only a RETURNING waits for the server, the rest travel
                # with the COMMIT, so a ledger write costs two round trips, not six.
                pipeline = nullcontext() if self.is_sqlite else raw.driver_connection.pipeline()  # type: ignore[union-attr]
                with pipeline:
                    cursor = raw.cursor()
                    if self.is_sqlite:
                        try:
                            self._begin(cursor, wait)
                        except WriteBusy:
                            busy = True
                            raise
                    try:
                        yield RawTransaction(cursor, self.engine.dialect)
                    except BaseException:
                        if self.is_sqlite:
                            _sqlite_rollback(cursor)
                        else:
                            raw.rollback()
                        raise
                    if self.is_sqlite:
                        cursor.execute("COMMIT")
                    else:
                        raw.commit()
                    cursor.close()
                    committed = True
            finally:
                if (committed or busy) and self._keeps_writer and not self._closed:
                    self._writer = raw
                    if committed:
                        self._checkpointer.committed()
                else:  # after a failure, the next write starts on a fresh connection
                    self._retire_writer(raw)
        finally:
            if lock is not None:
                lock.release()

    # The kept writer of file SQLite does not wait for locks (it waits on purpose, in
    # _begin) and does not checkpoint (the checkpointer's thread does).
    _WRITER_PRAGMAS = ("PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0")

    def _new_writer(self) -> Any:
        raw = self.engine.raw_connection()
        if self._keeps_writer:
            cursor = raw.cursor()
            for pragma in self._WRITER_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()
        return raw

    def _begin(self, cursor: Any, wait: bool) -> None:
        if not self._keeps_writer:
            cursor.execute("BEGIN IMMEDIATE")
        elif not wait:
            begin_now(cursor)
        else:
            cursor.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
            finally:
                cursor.execute("PRAGMA busy_timeout=0")

    def _retire_writer(self, raw: Any) -> None:
        """Give a connection back to the pool with the settings every other connection has."""
        if self._keeps_writer:
            try:
                cursor = raw.cursor()
                cursor.execute(f"PRAGMA busy_timeout={self._busy_ms}")
                cursor.execute("PRAGMA wal_autocheckpoint=1000")
                cursor.close()
            except Exception:  # a broken connection is dropped, not pooled
                raw.invalidate()
        raw.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (its transaction is rolled back at the end)."""
        lock: AbstractContextManager[Any] = self._read_lock if self._read_lock is not None else nullcontext()
        with lock, self.engine.connect() as conn:
            yield conn

    # -- stores ------------------------------------------------------------------

    def conversation_store(self, *, owns_database: bool = True) -> SQLConversationStore:
        """A :class:`ConversationStore` on this database; closing it closes the
        database too unless ``owns_database=False``."""
        from ai_core.storage.conversation_store import SQLConversationStore

        return SQLConversationStore(self, owns_database=owns_database)

    def load_prices(self, book: PriceBook) -> int:
        """Add the price rows stored by ``ai models sync`` that ``book`` lacks."""
        from ai_core.storage.catalog import load_prices

        return load_prices(self, book)

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            lock: AbstractContextManager[Any] = self._write_lock if self._write_lock is not None else nullcontext()
            with lock:
                writer, self._writer = self._writer, None
                if writer is not None:
                    writer.close()
            self._checkpointer.stop()
            self.autocommit.close()
            self.engine.dispose()

    async def aclose(self) -> None:
        if not self._closed:
            await anyio.to_thread.run_sync(self.close)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Database {self.display_url}>"


def _sqlite_rollback(cursor: Any) -> None:
    if cursor.connection.in_transaction:
        cursor.execute("ROLLBACK")


def _busy_timeout(settings: Any) -> float:
    """Seconds an SQLite write waits for another process's lock: ``AI_DB_BUSY_TIMEOUT``, else 30."""
    value = getattr(settings, "db_busy_timeout", None)
    if value is None:
        raw = os.environ.get("AI_DB_BUSY_TIMEOUT")
        try:
            value = float(raw) if raw else _DEFAULT_BUSY_TIMEOUT
        except ValueError:
            raise ConfigurationError(f"AI_DB_BUSY_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not value > 0:  # also refuses nan
        raise ConfigurationError(f"AI_DB_BUSY_TIMEOUT must be a positive number of seconds, got {value!r}")
    return float(value)


def _prepare_sqlite_file(path: Path) -> None:
    """Make the database's directory (0700) and an empty database file (0600) if they are missing.

    SQLite creates the -wal and -shm files with the mode of the database file,
    so creating that file ourselves, private, keeps all three private.
    """
    if path.is_dir():
        raise StorageError(
            f"the database path {path} is a directory: point AI_DATABASE_URL (or AI_DATA_DIR) at a file",
            database=str(path),
        )
    parent = path.parent
    if not parent.is_dir():
        if parent.exists() or any(p.exists() and not p.is_dir() for p in parent.parents):
            raise StorageError(
                f"cannot create the database in {parent}: a file is in the way of that directory; "
                "set AI_DATA_DIR (or AI_DATABASE_URL) to a directory",
                database=str(path),
            )
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _warn_if_readable_by_others(path: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            from ai_core.logging import get_logger

            # Info, not warning: a file made by an older ai-core, or shared on purpose, keeps its mode.
            get_logger(__name__).info(
                "database_file.readable_by_others", path=str(path), mode=oct(mode), fix=f"chmod 600 {path}"
            )


def _sqlite_engine(url: URL, echo: bool, busy_timeout: float = _DEFAULT_BUSY_TIMEOUT) -> Engine:
    database = url.database or ""  # None (no path) means in-memory, like ""
    in_memory = database in ("", ":memory:")
    if in_memory:
        engine = create_engine(
            url,
            echo=echo,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_deserializer=_stored_json,
        )
    else:
        if not url.query and not database.startswith("file:"):  # a plain path, not an SQLite URI
            _prepare_sqlite_file(Path(database).expanduser())
        engine = create_engine(
            url,
            echo=echo,
            pool_size=_SQLITE_THREADS,
            max_overflow=2,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
            json_deserializer=_stored_json,
        )
    busy_ms = max(1, round(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (pysqlite's implicit BEGIN is too late and deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Savepoints (group commit) keep their undo pages in a statement journal: in a
        # temporary file by default, which cost more than the rest of a ledger write.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("ai_sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _stored_json(text: str) -> Any:
    """Decode a JSON column; a value that is not JSON is a damaged row, said so (never a raw JSONDecodeError)."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        from ai_core.storage.message_format import StoredFormatError

        raise StoredFormatError(
            f"a stored JSON value is damaged ({exc.msg} at character {exc.pos}): "
            "the row was changed outside ai-core; restore it from a backup or delete it"
        ) from None


def _label_errors(engine: Engine, database: str, busy_timeout: float | None) -> None:
    """Every SQLAlchemy error from this engine carries the database it happened on, for messages."""

    @event.listens_for(engine, "handle_error")
    def _label(context: Any) -> None:
        error = context.sqlalchemy_exception
        if error is not None:
            error.ai_core_database = database
            error.ai_core_busy_timeout = busy_timeout


def _first_line(text: str) -> str:
    return " ".join(text.split()) if text else ""


# (pattern in the driver's message, what to say). {db} is the database, {detail} the driver's words.
_SQLITE_PROBLEMS: list[tuple[str, str]] = [
    (
        "database is locked",
        "the database {db} is locked by another process{waited}: try again when it has finished, "
        "or raise AI_DB_BUSY_TIMEOUT",
    ),
    ("database table is locked", "the database {db} is locked by another connection: try again"),
    ("database or disk is full", "the disk holding the database {db} is full: free some space and try again"),
    (
        "attempt to write a readonly database",
        "the database {db} is read-only (file or directory permissions, or a "
        "read-only disk): make it writable, or point AI_DATABASE_URL elsewhere",
    ),
    (
        "unable to open database file",
        "cannot open the database file {db}: check that its directory exists and is "
        "writable, or set AI_DATA_DIR or AI_DATABASE_URL",
    ),
    (
        "file is not a database",
        "{db} is not an SQLite database (damaged, or another kind of file): move it away, or "
        "point AI_DATABASE_URL elsewhere",
    ),
    (
        "database disk image is malformed",
        "the database {db} is damaged (malformed): restore a backup (`sqlite3 FILE .recover` may save the data)",
    ),
    ("disk i/o error", "disk I/O error on the database {db}: check the disk and its free space"),
    (
        "no such table",
        "the database {db} lacks ai-core's tables ({detail}): run `ai db upgrade`, or point "
        "AI_DATABASE_URL at an ai-core database",
    ),
]
_SERVER_PROBLEMS: list[tuple[str, str]] = [
    (
        "password authentication failed",
        "PostgreSQL refused the login to {db}: check the user and password in AI_DATABASE_URL",
    ),
    ("could not translate host name", "unknown database host in {db}: check AI_DATABASE_URL"),
    (
        "connection refused",
        "cannot connect to the database server {db}: connection refused; is the server running, "
        "and are the host and port in AI_DATABASE_URL right?",
    ),
    (
        "timeout expired",
        "cannot connect to the database server {db}: it did not answer in time; is it running and reachable?",
    ),
    ("no space left on device", "the database server {db} is out of disk space: free some and try again"),
    ("could not extend file", "the database server {db} is out of disk space: free some and try again"),
    (
        "read-only transaction",
        "the database {db} is read-only (a standby, or default_transaction_read_only): use a writable server",
    ),
    ("server closed the connection", "the database server {db} closed the connection: is it restarting? try again"),
    ("connection failed", "cannot connect to the database server {db}: {detail}"),
]


def storage_error(exc: BaseException, database: str | None = None) -> StorageError:
    """A one-line :class:`StorageError` for a SQLAlchemy (or driver) error: what went wrong and what to do."""
    database = database or getattr(exc, "ai_core_database", None)
    orig = getattr(exc, "orig", None) or exc
    detail = _first_line(str(orig))
    # psycopg: 'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused ...'
    detail = re.sub(r"^\(\S+\)\s*", "", detail)
    lowered = detail.lower()
    db = database or "the database"
    is_sqlite = type(orig).__module__.startswith("sqlite3") or (database or "").startswith("sqlite")
    busy = getattr(exc, "ai_core_busy_timeout", None)
    waited = f" (waited {busy:g} s)" if busy else ""
    missing = re.search(r'database "([^"]+)" does not exist', detail)
    if missing:
        name = missing.group(1)
        return StorageError(
            f'database "{name}" does not exist on the server {db}: create it (`createdb {name}`) or fix '
            "AI_DATABASE_URL",
            database=database,
        )
    if "relation" in lowered and "does not exist" in lowered:
        return StorageError(
            f"the database {db} lacks ai-core's tables ({detail}): run `ai db upgrade`", database=database
        )
    if is_sqlite and "disk i/o error" in lowered and _disk_full(database):
        lowered = "database or disk is full"  # SQLite says I/O error when the WAL cannot grow
    for pattern, template in _SQLITE_PROBLEMS if is_sqlite else _SERVER_PROBLEMS:
        if pattern in lowered:
            return StorageError(template.format(db=db, detail=detail, waited=waited), database=database)
    return StorageError(f"database error on {db}: {detail or type(orig).__name__}", database=database)


def _disk_full(database: str | None) -> bool:
    """Whether the file system holding the SQLite ``database`` (a display URL) has no space left."""
    if not database or not database.startswith("sqlite:///"):
        return False
    folder = Path(database.removeprefix("sqlite:///").split("?", 1)[0]).expanduser().parent
    try:
        return os.statvfs(folder).f_bavail == 0
    except (OSError, AttributeError):  # no statvfs on Windows
        return False


_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space",
    errno.EROFS: "the file system is read-only: point AI_DATA_DIR or AI_DATABASE_URL at a writable place",
    errno.EACCES: "permission denied: fix the permissions, or set AI_DATA_DIR or AI_DATABASE_URL",
    errno.EPERM: "not permitted: fix the permissions, or set AI_DATA_DIR or AI_DATABASE_URL",
    errno.ENOTDIR: "a file is in the way of a directory: set AI_DATA_DIR or AI_DATABASE_URL",
    errno.EEXIST: "a file is in the way of a directory: set AI_DATA_DIR or AI_DATABASE_URL",
}


def _os_storage_error(exc: OSError, database: str) -> StorageError:
    hint = _OS_HINTS.get(exc.errno or 0, exc.strerror or str(exc))
    where = f"create or open {exc.filename}" if exc.filename else f"open the database {database}"
    return StorageError(f"cannot {where}: {hint}", database=database)
