"""Where webhook deliveries are recorded: the database, or memory without one.

Both logs are synchronous and thread-safe; the sender calls them from worker
threads, the CLI directly.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update

from ai_core.integrations.tables import WebhookDelivery
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["DeliveryLog", "MemoryDeliveryLog", "SQLDeliveryLog", "delivery_log"]

_deliveries = table_of(WebhookDelivery)
_TIMES = ("next_attempt_at", "created_at", "updated_at", "delivered_at")


class DeliveryLog(Protocol):
    def insert(self, row: dict[str, Any]) -> None: ...
    def update(self, delivery_id: str, **values: Any) -> None: ...
    def get(self, delivery_id: str) -> dict[str, Any] | None: ...
    def list(
        self, *, endpoint: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]: ...
    def due(self, endpoints: Sequence[str], now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]: ...
    def claim(self, delivery_id: str, now: datetime, until: datetime) -> dict[str, Any] | None: ...


class SQLDeliveryLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, row: dict[str, Any]) -> None:
        with self.database.write() as conn:
            conn.execute(_deliveries.insert(), [row])

    def update(self, delivery_id: str, **values: Any) -> None:
        with self.database.write() as conn:
            conn.execute(update(_deliveries).where(_deliveries.c.id == delivery_id).values(**values))

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        with self.database.read() as conn:
            row = conn.execute(select(_deliveries).where(_deliveries.c.id == delivery_id)).mappings().first()
        return _plain(row) if row is not None else None

    def list(self, *, endpoint: str | None = None, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(_deliveries).order_by(_deliveries.c.created_at.desc(), _deliveries.c.id).limit(limit)
        if endpoint is not None:
            query = query.where(_deliveries.c.endpoint == endpoint)
        if status is not None:
            query = query.where(_deliveries.c.status == status)
        with self.database.read() as conn:
            return [_plain(row) for row in conn.execute(query).mappings()]

    def due(self, endpoints: Sequence[str], now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]:
        """(id, endpoint) of these endpoints' deliveries waiting for a try that is due, oldest first."""
        if not endpoints:
            return []
        c = _deliveries.c
        query = (
            select(c.id, c.endpoint)
            .where(c.status == "pending", c.next_attempt_at <= now, c.endpoint.in_(list(endpoints)))
            .order_by(c.next_attempt_at, c.created_at, c.id)
            .limit(limit)
        )
        with self.database.read() as conn:
            return [(row.id, row.endpoint) for row in conn.execute(query)]

    def claim(self, delivery_id: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        """Take a due pending delivery for one attempt: its next try moves to ``until`` (the lease),
        so no other process takes it meanwhile. The row as claimed, or None if it was not due (another
        process holds it, or it was delivered, failed or replayed)."""
        c = _deliveries.c
        with self.database.write() as conn:
            claimed = conn.execute(
                update(_deliveries)
                .where(c.id == delivery_id, c.status == "pending", c.next_attempt_at <= now)
                .values(next_attempt_at=until, updated_at=now)
            )
            if claimed.rowcount != 1:
                return None
            row = conn.execute(select(_deliveries).where(c.id == delivery_id)).mappings().one()
        return _plain(row)


class MemoryDeliveryLog:
    """The last ``limit`` deliveries of this process (persistence off)."""

    def __init__(self, limit: int = 1000) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def insert(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows[row["id"]] = dict(row)
            while len(self._rows) > self._limit:
                del self._rows[next(iter(self._rows))]

    def update(self, delivery_id: str, **values: Any) -> None:
        with self._lock:
            if delivery_id in self._rows:
                self._rows[delivery_id].update(values)

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._rows.get(delivery_id)
            return dict(row) if row is not None else None

    def list(self, *, endpoint: str | None = None, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = [
                dict(r) for r in reversed(self._rows.values())
                if (endpoint is None or r["endpoint"] == endpoint) and (status is None or r["status"] == status)
            ]  # fmt: skip
        return rows[:limit]

    def due(self, endpoints: Sequence[str], now: datetime, limit: int = 100) -> builtins.list[tuple[str, str]]:
        with self._lock:
            rows = sorted(
                (r for r in self._rows.values() if r["endpoint"] in endpoints and _due(r, now)),
                key=lambda r: (r["next_attempt_at"], r["created_at"], r["id"]),
            )
        return [(r["id"], r["endpoint"]) for r in rows[:limit]]

    def claim(self, delivery_id: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        with self._lock:
            row = self._rows.get(delivery_id)
            if row is None or not _due(row, now):
                return None
            row.update(next_attempt_at=until, updated_at=now)
            return dict(row)


def _due(row: dict[str, Any], now: datetime) -> bool:
    return row["status"] == "pending" and row["next_attempt_at"] is not None and row["next_attempt_at"] <= now


def delivery_log(database: Database | None) -> DeliveryLog:
    return SQLDeliveryLog(database) if database is not None else MemoryDeliveryLog()


def _plain(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in _TIMES:
        value = data.get(key)
        if isinstance(value, datetime):
            data[key] = as_utc(value)
    return data
