"""Small dialect-aware statement builders both databases share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

__all__ = ["dialect_insert", "dialect_insert_for", "insert_ignore"]


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT with ``on_conflict_*`` support for the connection's dialect."""
    return dialect_insert_for(conn.dialect.name, table)


def dialect_insert_for(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert support for {dialect}")  # pragma: no cover


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]] | dict[str, Any]) -> int:
    """Insert rows, skipping any that collide with an existing key; return how many went in."""
    if not rows:
        return 0
    # Count RETURNING rows: psycopg reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING.
    key = next(iter(table.primary_key.columns))
    statement: Insert = dialect_insert(conn, table).on_conflict_do_nothing().returning(key)
    return len(conn.execute(statement, rows).all())
