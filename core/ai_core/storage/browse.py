"""Read-side queries for people: listing, showing and exporting conversations."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc
from ai_core.storage.conversation_tables import Conversation, FailedAttempt, StoredMessage
from ai_core.storage.message_format import decode_message

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["conversation_detail", "list_conversations", "money_text"]

_c = table_of(Conversation)
_m = table_of(StoredMessage)
_f = table_of(FailedAttempt)


def money_text(value: Decimal | None) -> str | None:
    """A Decimal as plain digits (never ``5E-8``), trailing zeros dropped."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _conversation(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in ("created_at", "updated_at", "archived_at"):
        data[key] = as_utc(data[key])
    return data


def list_conversations(
    database: Database,
    *,
    limit: int = 20,
    user: str | None = None,
    tenant: str | None = None,
    include_archived: bool = False,
) -> list[dict[str, Any]]:
    """The most recently updated conversations first."""
    query = select(_c).order_by(_c.c.updated_at.desc()).limit(limit)
    if user is not None:
        query = query.where(_c.c.user_id == user)
    if tenant is not None:
        query = query.where(_c.c.tenant == tenant)
    if not include_archived:
        query = query.where(_c.c.status == "active")
    with database.read() as conn:
        return [_conversation(row) for row in conn.execute(query).mappings()]


def conversation_detail(
    database: Database, conversation_id: str, *, tenant: str | None = None, user: str | None = None
) -> dict[str, Any] | None:
    """The conversation, its messages (decoded, with their ledger fields) and failed
    attempts; None when there is none that (``tenant``, ``user``) may read
    (:func:`~ai_core.pipeline.store.in_scope`)."""
    from ai_core.pipeline.store import in_scope

    with database.read() as conn:
        row = conn.execute(select(_c).where(_c.c.id == conversation_id)).mappings().first()
        if row is None or not in_scope(row["tenant"], row["user_id"], tenant, user):
            return None
        messages = (
            conn.execute(select(_m).where(_m.c.conversation_id == conversation_id).order_by(_m.c.position))
            .mappings()
            .all()
        )
        failures = (
            conn.execute(select(_f).where(_f.c.conversation_id == conversation_id).order_by(_f.c.id)).mappings().all()
        )
    detail = _conversation(row)
    detail["messages"] = []
    for message in messages:
        data = dict(message)
        data["message"] = decode_message(data["role"], data["name"], data["format_version"], data["parts"])
        data["created_at"] = as_utc(data["created_at"])
        detail["messages"].append(data)
    detail["failures"] = [dict(f, created_at=as_utc(f["created_at"])) for f in failures]
    return detail
