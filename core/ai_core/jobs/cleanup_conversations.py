"""Archive or delete conversations not touched for a configured age.

``archive`` (the default) keeps every row, ledger included, and only marks the
conversation archived. ``delete`` removes the conversations with their
messages, failed attempts, tags and participants: their cost leaves the
ledger, so analytics rebuilt afterwards for those days no longer count it.
That is what deleting (e.g. for data-protection requests) means.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import delete, select, update

from ai_core.storage.base import table_of
from ai_core.storage.columns import utcnow
from ai_core.storage.conversation_tables import (
    Conversation,
    ConversationParticipant,
    ConversationTag,
    FailedAttempt,
    StoredMessage,
)

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["cleanup_conversations"]

_c = table_of(Conversation)


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
                update(_c).where(_c.c.updated_at < cutoff, _c.c.status == "active")
                .values(status="archived", archived_at=utcnow()).returning(_c.c.id)
            )
            return len(result.all())
        ids = list(conn.execute(select(_c.c.id).where(_c.c.updated_at < cutoff)).scalars())
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for table in (StoredMessage, FailedAttempt, ConversationTag, ConversationParticipant):
                child = table_of(table)
                conn.execute(delete(child).where(child.c.conversation_id.in_(chunk)))
            conn.execute(delete(_c).where(_c.c.id.in_(chunk)))
        return len(ids)
