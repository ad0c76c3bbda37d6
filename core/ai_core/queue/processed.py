"""Which listener has handled which event: the markers that make redelivery harmless.

A queued listener is acknowledged late, so an event may reach it again after a
worker died; the marker row ``(event_id, listener)`` in ``ai_processed_events``
(migration 0005) is written in the same transaction as the listener's own
database writes (:func:`ai_core.queue.delivery_connection`), so either both are
there or neither is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base, table_of
from ai_core.storage.columns import utcnow

__all__ = ["ProcessedEvent", "is_processed", "mark_processed"]


class ProcessedEvent(Base):
    """One event handled by one queued listener (its effect is committed)."""

    __tablename__ = "ai_processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    listener: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_name: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


_table = table_of(ProcessedEvent)


def is_processed(conn: Connection, event_id: str, listener: str) -> bool:
    query = select(_table.c.event_id).where(_table.c.event_id == event_id, _table.c.listener == listener)
    return conn.execute(query).first() is not None


def mark_processed(conn: Connection, event_id: str, listener: str, event_name: str) -> bool:
    """Insert the marker in ``conn``'s transaction; False when it was already there (a concurrent twin)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    statement: Any = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(_table)
    statement = statement.on_conflict_do_nothing()
    values = {"event_id": event_id, "listener": listener[:255], "event_name": event_name[:64], "processed_at": utcnow()}
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT here (pipelined connections).
    return conn.execute(statement.returning(_table.c.event_id), values).first() is not None
