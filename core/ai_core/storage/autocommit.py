"""Server connections in autocommit, kept for one-statement writes.

A ledger write on PostgreSQL is one statement (:mod:`ai_core.storage.pg_ledger`),
so it needs no transaction around it. Through the engine's pool each write
would also pay a checkout ping, a BEGIN, a COMMIT and a reset on checkin:
three more round trips. These connections are taken out of the pool once,
switched to autocommit and kept; one idle for longer than
:data:`PING_AFTER` seconds is pinged before use, and one that failed is
closed rather than kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

__all__ = ["PING_AFTER", "AutocommitConnections"]

T = TypeVar("T")

PING_AFTER = 10.0


class AutocommitConnections:
    def __init__(self, engine: Engine, *, size: int) -> None:
        self._engine = engine
        self._size = size
        self._idle: list[tuple[Any, float]] = []  # (psycopg connection, last used)
        self._lock = threading.Lock()
        self._closed = False

    def run(self, job: Callable[[Any], T]) -> T:
        """``job(tx)`` on an autocommit connection (in the calling thread)."""
        from ai_core.storage.fastsql import RawTransaction

        raw = self._take()
        try:
            cursor = raw.cursor()
            result = job(RawTransaction(cursor, self._engine.dialect))
            cursor.close()
        except BaseException:
            self._give_back(raw, healthy=False)
            raise
        self._give_back(raw, healthy=True)
        return result

    def run_pipelined(self, jobs: list[Callable[[Any], Any]]) -> list[tuple[Any, BaseException | None]]:
        """Each job's statement, all sent in one pipeline (one round trip) and one
        transaction; each job's result or error. If anything fails, none of them is
        stored, and the jobs are run again one by one so only the failing one fails
        (jobs must be safe to run again after a rollback)."""
        from ai_core.storage.fastsql import RawTransaction

        if len(jobs) == 1:
            return [self._alone(jobs[0])]
        raw = self._take()
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            # One explicit transaction: whatever fails (a statement on the server, or a job's
            # own code before its statement was queued), none of the batch is stored.
            with raw.pipeline(), raw.transaction():
                cursor = raw.cursor()
                tx = RawTransaction(cursor, self._engine.dialect)
                for job in jobs:
                    outcomes.append((job(tx), None))
        except Exception:
            # Closed, not kept: statements psycopg prepared inside the failed pipeline may
            # never have reached the server, though psycopg counts them as prepared.
            raw.close()
            return [self._alone(job) for job in jobs]
        self._give_back(raw, healthy=True)
        return outcomes

    def _alone(self, job: Callable[[Any], Any]) -> tuple[Any, BaseException | None]:
        try:
            return self.run(job), None
        except Exception as exc:
            return None, exc

    def _take(self) -> Any:
        with self._lock:
            found = self._idle.pop() if self._idle else None
        if found is not None:
            raw, used = found
            if time.monotonic() - used < PING_AFTER or self._alive(raw):
                return raw
            raw.close()
        pooled = self._engine.raw_connection()
        pooled.detach()  # ours from now on: closing it closes it
        fresh: Any = pooled.dbapi_connection
        fresh.autocommit = True
        return fresh

    @staticmethod
    def _alive(raw: Any) -> bool:
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            cursor.close()
            return True
        except Exception:
            return False

    def _give_back(self, raw: Any, *, healthy: bool) -> None:
        # A statement that failed leaves an autocommit connection idle; a broken one is closed.
        keep = healthy or (not raw.closed and raw.info.transaction_status == 0)
        with self._lock:
            if keep and not self._closed and len(self._idle) < self._size:
                self._idle.append((raw, time.monotonic()))
                return
        raw.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for raw, _used in idle:
            try:
                raw.close()
            except Exception:  # closing a dead connection: nothing left to release
                pass
