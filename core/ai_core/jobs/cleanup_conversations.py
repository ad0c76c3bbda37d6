"""Archive or delete conversations not touched for a configured age.

``archive`` (the default) keeps every row, ledger included, and only marks the
conversation archived. ``delete`` removes the conversations with their
messages, failed attempts, tags and participants: their cost leaves the
ledger, and, in the same transaction, ``ai_cost_tracking`` (what ``ai usage``,
the dashboard and spend by tenant or tag read), so every derived table agrees
with the ledger at once, as a rebuild would make it; the dashboard's rollup of
those days and the analytics rows of those models are made again from it.
That is what deleting (e.g. for data-protection requests) means. Budget
counters keep the spend: the money was spent, whatever is deleted later.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, select, update

from ai_core.dashboard.rollup import forget_these_days
from ai_core.integrations.analytics import refresh_analytics
from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import (
    Conversation,
    ConversationParticipant,
    ConversationTag,
    FailedAttempt,
    StoredMessage,
)
from ai_core.storage.cost_tracker import remove_from_cost_tracking

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["cleanup_conversations"]

_c = table_of(Conversation)
_m = table_of(StoredMessage)
_f = table_of(FailedAttempt)
_TRACKED = (
    "created_on",
    "user_id",
    "tenant",
    "tags",
    "provider",
    "model",
    "currency",
    "cost_known",
    "input_tokens",
    "output_tokens",
    "cost",
)


def cleanup_conversations(
    database: Database,
    *,
    older_than_days: int,
    action: Literal["archive", "delete"] = "archive",
    now: datetime | None = None,
) -> int:
    """Archive or delete conversations last updated more than ``older_than_days`` ago; return how many."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be zero or more")
    if action not in ("archive", "delete"):
        raise ValueError(f"action must be 'archive' or 'delete', not {action!r}")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    with database.write() as conn:
        if action == "archive":
            result = conn.execute(
                update(_c)
                .where(_c.c.updated_at < cutoff, _c.c.status == "active")
                .values(status="archived", archived_at=utcnow())
                .returning(_c.c.id)
            )
            return len(result.all())
        ids = list(conn.execute(select(_c.c.id).where(_c.c.updated_at < cutoff)).scalars())
        days: set[date] = set()
        touched: set[tuple[date, str, str]] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            billable: list[Any] = list(conn.execute(
                select(*(_m.c[name] for name in _TRACKED)).where(_m.c.conversation_id.in_(chunk), _m.c.billable)
            ).mappings())  # fmt: skip
            days |= remove_from_cost_tracking(conn, billable, now=utcnow())
            failed = conn.execute(
                select(_f.c.created_on, _f.c.provider, _f.c.model).where(_f.c.conversation_id.in_(chunk))
            )
            touched |= {(row["created_on"], row["provider"], row["model"]) for row in billable}
            touched |= {(day, provider, model) for day, provider, model in failed}
            for table in (StoredMessage, FailedAttempt, ConversationTag, ConversationParticipant):
                child = table_of(table)
                conn.execute(delete(child).where(child.c.conversation_id.in_(chunk)))
            conn.execute(delete(_c).where(_c.c.id.in_(chunk)))
        forget_these_days(conn, days)
    if touched:
        refresh_analytics(database, touched)
    return len(ids)
