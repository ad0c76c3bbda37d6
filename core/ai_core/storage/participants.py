"""Who takes part in a conversation: ``ai_conversation_participants``.

The ledger adds its user (kind ``user``) and every model that answered (kind
``model``) by itself; :func:`add_participant` adds a person with a role
(``reviewer``, ``owner``...), creating the conversation's row if its first
turn has not been sent yet. Adding someone again changes their role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from ai_core.pipeline.store import in_scope
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc, utcnow
from ai_core.storage.conversation_tables import Conversation, ConversationParticipant
from ai_core.storage.sql import dialect_insert_for

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["Participant", "add_participant", "list_participants"]

_participants = table_of(ConversationParticipant)
_conversations = table_of(Conversation)


@dataclass(frozen=True)
class Participant:
    name: str
    kind: str
    """``user`` (a person), ``model`` (``provider/model``) or ``tool``."""
    role: str | None
    joined_at: datetime | None


def add_participant(
    database: Database,
    conversation_id: str,
    name: str,
    role: str | None,
    *,
    owner: str | None = None,
    tenant: str | None = None,
    tags: tuple[str, ...] = (),
) -> None:
    """Add ``name`` as a person taking part (or change their ``role``). ``owner`` and
    ``tenant`` are who asks: a stored conversation outside their scope is refused
    with the same words as a missing one."""
    from ai_core.errors import RequestValidationError

    if not name or len(name) > 255:
        raise RequestValidationError("a participant's name must be 1 to 255 characters long")
    if role is not None and len(role) > 32:
        raise RequestValidationError(f"a participant's role is at most 32 characters long: {role[:40]!r}")
    dialect = database.engine.dialect.name
    now = utcnow()
    with database.write() as conn:
        found = conn.execute(
            select(_conversations.c.user_id, _conversations.c.tenant).where(_conversations.c.id == conversation_id)
        ).first()
        if found is not None and not in_scope(found.tenant, found.user_id, tenant, owner):
            from ai_core.errors import ConfigurationError

            raise ConfigurationError(f"no stored conversation with id {conversation_id!r} for this tenant and user")
        conn.execute(
            dialect_insert_for(dialect, _conversations)
            .values(id=conversation_id, user_id=owner, tenant=tenant, tags=list(tags), created_at=now, updated_at=now)
            .on_conflict_do_nothing()
        )
        statement = dialect_insert_for(dialect, _participants).values(
            conversation_id=conversation_id, kind="user", participant=name, joined_at=now, role=role
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["conversation_id", "kind", "participant"], set_={"role": role}
            )
        )


def list_participants(database: Database, conversation_id: str) -> list[Participant]:
    """Everyone in the conversation, in the order they joined."""
    with database.read() as conn:
        rows = conn.execute(
            select(_participants)
            .where(_participants.c.conversation_id == conversation_id)
            .order_by(_participants.c.joined_at, _participants.c.kind, _participants.c.participant)
        ).mappings()
        return [Participant(r["participant"], r["kind"], r["role"], as_utc(r["joined_at"])) for r in rows]
