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
"""

from __future__ import annotations

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
from sqlalchemy.pool import StaticPool

from ai_core.errors import ConfigurationError
from ai_core.storage.money import register_sqlite_functions
from ai_core.storage.urls import display_url, resolve_url

if TYPE_CHECKING:
    from ai_core.costs import PriceBook
    from ai_core.storage.conversation_store import SQLConversationStore
    from ai_core.storage.fastsql import RawTransaction

__all__ = ["Database"]

T = TypeVar("T")

_SQLITE_THREADS = 8
_SERVER_THREADS = 16


class Database:
    """An open database. Create with :meth:`open`; close with :meth:`close`/:meth:`aclose`."""

    def __init__(self, engine: Engine, url: URL, *, threads: int) -> None:
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
        if resolved.get_backend_name() == "sqlite":
            engine, threads = _sqlite_engine(resolved, echo), _SQLITE_THREADS
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
        database = cls(engine, resolved, threads=threads)
        try:
            from ai_core.storage import migrate as migrations

            if migrate or (migrate is None and database.is_sqlite):
                migrations.upgrade(database)
            elif migrate is None:
                migrations.require_current(database)
        except BaseException:
            database.close()
            raise
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

    async def write_job(self, job: Callable[[RawTransaction], T]) -> T:
        """Run ``job(tx)`` in a write transaction, off the event loop.

        On SQLite, jobs from concurrent tasks share one thread hop and one
        transaction (group commit, each job in its own SAVEPOINT); on a server
        database every job is its own transaction, so writers run in parallel.
        """
        if not self.is_sqlite:
            return await self.run(self._write_one, job)
        token = anyio.lowlevel.current_token().native_token
        with self._limiters_lock:
            batcher = self._batchers.get(token)
            if batcher is None:
                from ai_core.storage.group_commit import WriteBatcher

                batcher = self._batchers[token] = WriteBatcher(self)
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
    def raw_write(self) -> Iterator[RawTransaction]:
        """A write transaction on the pooled DB-API connection, for the hot path
        (:mod:`ai_core.storage.fastsql`): committed on success, rolled back on error."""
        from ai_core.storage.fastsql import RawTransaction

        lock: AbstractContextManager[Any] = self._write_lock if self._write_lock is not None else nullcontext()
        with lock:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                if self.is_sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
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
            finally:
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


def _sqlite_engine(url: URL, echo: bool) -> Engine:
    database = url.database or ""  # None (no path) means in-memory, like ""
    in_memory = database in ("", ":memory:")
    if in_memory:
        engine = create_engine(url, echo=echo, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, pool_size=_SQLITE_THREADS, max_overflow=2,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (pysqlite's implicit BEGIN is too late and deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("ai_sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
