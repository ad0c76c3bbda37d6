"""The ledger's user, tenant and call-id indexes hold only rows that have the value,
and queries by equality still use them (migration 0010), on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

_PARTIAL = {
    "ix_ai_conversations_user_id_updated_at": "user_id",
    "ix_ai_conversations_tenant_updated_at": "tenant",
    "ix_ai_messages_user_id_created_on": "user_id",
    "ix_ai_messages_tenant_created_on": "tenant",
    "ix_ai_messages_call_id": "call_id",
}

_QUERIES = {
    "ix_ai_messages_tenant_created_on": (
        "SELECT id FROM ai_messages WHERE tenant = 'acme' AND created_on >= '2026-01-01'"
    ),
    "ix_ai_messages_call_id": "SELECT id FROM ai_messages WHERE call_id = 'c1'",
    "ix_ai_conversations_user_id_updated_at": (
        "SELECT id FROM ai_conversations WHERE user_id = 'ann' ORDER BY updated_at DESC LIMIT 20"
    ),
}


def _definitions(conn, dialect: str) -> dict[str, str]:
    if dialect == "sqlite":
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    else:
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes"))
    return {name: definition for name, definition in rows}


def test_the_indexes_are_partial(database) -> None:
    with database.read() as conn:
        found = _definitions(conn, database.dialect)
    for name, column in _PARTIAL.items():
        assert "WHERE" in found[name].upper() and column in found[name].split("WHERE", 1)[1], found[name]


@pytest.mark.parametrize("index", sorted(_QUERIES))
def test_equality_queries_use_them(database, index: str) -> None:
    with database.read() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # an empty table: ask whether the index can serve
            plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {_QUERIES[index]}")))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {_QUERIES[index]}")))
    assert index in plan, plan
