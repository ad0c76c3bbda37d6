"""Stored action requests (``ai_agent_actions``) and their state changes, run in worker threads.

Every change of state is one conditional UPDATE, so that of two processes
racing for the same row exactly one wins:

* claim: ``requested`` (or ``running`` past its lease: its worker died) to
  ``running``, ``attempts`` + 1, a new lease;
* renew: push the lease on, only while the claim that set it still holds;
* complete: ``running`` to ``succeeded``/``failed``, only for the claim (its
  ``attempts``) that ran it.

The follow-up of a completed action (its event and its message in the
conversation) is marked done in ``ai_processed_events`` under
:data:`FOLLOW_UP`, so a worker that finds a completed action without the
marker (its predecessor died in between) finishes the follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["FOLLOW_UP", "ActionRow"]

FOLLOW_UP = "ai_core.actions:outcome"
"""The ``listener`` of an action's follow-up marker in ``ai_processed_events`` (``event_id`` is the action id)."""


@dataclass
class ActionRow:
    id: str
    name: str
    arguments: dict[str, Any]
    conversation_id: str | None
    user: str | None
    tenant: str | None
    status: str = "requested"
    attempts: int = 0
    lease_until: datetime | None = None
    result: str | None = None
    error: str | None = None
    completed_at: datetime | None = None
    requested_at: datetime | None = None


def _table() -> Any:
    from ai_core.security.tables import AgentAction
    from ai_core.storage.base import table_of

    return table_of(AgentAction)


def _claimable(table: Any, now: datetime) -> Any:
    from sqlalchemy import and_, or_

    return or_(table.c.status == "requested", and_(table.c.status == "running", table.c.lease_until < now))


def insert(database: Any, row: ActionRow) -> None:
    with database.write() as conn:
        conn.execute(
            _table()
            .insert()
            .values(
                id=row.id,
                name=row.name,
                conversation_id=row.conversation_id,
                user_id=row.user,
                tenant=row.tenant,
                arguments=row.arguments,
                status="requested",
                attempts=0,
                requested_at=row.requested_at or datetime.now(UTC),
            )
        )


def _row(mapping: Any) -> ActionRow:
    from ai_core.storage.columns import as_utc

    return ActionRow(
        id=mapping["id"],
        name=mapping["name"],
        arguments=dict(mapping["arguments"]),
        conversation_id=mapping["conversation_id"],
        user=mapping["user_id"],
        tenant=mapping["tenant"],
        status=mapping["status"],
        attempts=mapping["attempts"],
        lease_until=as_utc(mapping["lease_until"]),
        result=mapping["result"],
        error=mapping["error"],
        completed_at=as_utc(mapping["completed_at"]),
        requested_at=as_utc(mapping["requested_at"]),
    )


def get(database: Any, action_id: str) -> ActionRow | None:
    from sqlalchemy import select

    table = _table()
    with database.read() as conn:
        found = conn.execute(select(table).where(table.c.id == action_id)).mappings().first()
    return None if found is None else _row(found)


def get_many(database: Any, action_ids: list[str]) -> dict[str, ActionRow]:
    from sqlalchemy import select

    table = _table()
    with database.read() as conn:
        found = conn.execute(select(table).where(table.c.id.in_(action_ids))).mappings().all()
    return {row["id"]: _row(row) for row in found}


def claim(database: Any, action_id: str, now: datetime, lease: datetime) -> ActionRow | None:
    from sqlalchemy import select

    table = _table()
    with database.write() as conn:
        result = conn.execute(
            table.update()
            .where(table.c.id == action_id, _claimable(table, now))
            .values(status="running", attempts=table.c.attempts + 1, lease_until=lease)
        )
        if result.rowcount != 1:
            return None
        return _row(conn.execute(select(table).where(table.c.id == action_id)).mappings().one())


def renew(database: Any, claimed: ActionRow, lease: datetime) -> bool:
    table = _table()
    with database.write() as conn:
        result = conn.execute(
            table.update()
            .where(table.c.id == claimed.id, table.c.status == "running", table.c.attempts == claimed.attempts)
            .values(lease_until=lease)
        )
        return result.rowcount == 1


def complete(
    database: Any, claimed: ActionRow, status: str, result: str | None, error: str | None, now: datetime
) -> bool:
    table = _table()
    with database.write() as conn:
        done = conn.execute(
            table.update()
            .where(table.c.id == claimed.id, table.c.status == "running", table.c.attempts == claimed.attempts)
            .values(status=status, result=result, error=error, completed_at=now, lease_until=None)
        )
        return done.rowcount == 1


def resumable(database: Any, now: datetime, requested_before: datetime | None = None) -> list[str]:
    """Ids of the actions to run again: ``running`` past their lease, and ``requested``
    (all of them, or only those requested before ``requested_before``)."""
    from sqlalchemy import and_, or_, select

    table = _table()
    waiting: Any = table.c.status == "requested"
    if requested_before is not None:
        waiting = and_(waiting, table.c.requested_at < requested_before)
    with database.read() as conn:
        rows = conn.execute(
            select(table.c.id)
            .where(or_(waiting, and_(table.c.status == "running", table.c.lease_until < now)))
            .order_by(table.c.requested_at)
        )
        return [row.id for row in rows]


def followed_up(database: Any, action_id: str) -> bool:
    from ai_core.queue.processed import is_processed

    with database.read() as conn:
        return is_processed(conn, action_id, FOLLOW_UP)


def mark_followed_up(database: Any, action_id: str) -> None:
    from ai_core.queue.processed import mark_processed

    with database.write() as conn:
        mark_processed(conn, action_id, FOLLOW_UP, "agent.action_completed")
