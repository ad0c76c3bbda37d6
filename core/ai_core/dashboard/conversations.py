"""Conversations for the dashboard: a filtered, searchable list and one conversation in full.

Scope: a tenant-scoped viewer passes its tenant as ``filters.tenant`` and
``tenant`` here, and every query is narrowed to it, the search and the exports
included; a conversation of another tenant is "not found", never "forbidden",
so its id tells nothing.

Search is a case-insensitive substring match on titles and message text. To
answer in bounded time on a large ledger it looks at the newest
:data:`SEARCH_WINDOW` conversations that match the other filters (dates, user,
tenant, tag, model), and says so: narrow the dates to search older ones.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Text, cast, exists, select

from ai_core.dashboard.queries import FilterColumns, Filters, like_escape
from ai_core.redaction import redact
from ai_core.storage.base import table_of
from ai_core.storage.columns import as_utc
from ai_core.storage.conversation_tables import Conversation, ConversationTag, FailedAttempt, StoredMessage
from ai_core.storage.message_format import decode_message

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["PAGE_SIZE", "SEARCH_WINDOW", "conversation_detail", "list_conversations"]

PAGE_SIZE = 50
SEARCH_WINDOW = 2000
"""How many of the newest matching conversations a text search reads, at most."""
_SEARCH_CHUNK = 500

_c = table_of(Conversation)
_m = table_of(StoredMessage)
_tags = table_of(ConversationTag)
_f = table_of(FailedAttempt)

_LIST_COLUMNS = (
    _c.c.id,
    _c.c.title,
    _c.c.user_id,
    _c.c.tenant,
    _c.c.tags,
    _c.c.status,
    _c.c.provider,
    _c.c.model,
    _c.c.message_count,
    _c.c.total_cost,
    _c.c.unknown_cost_count,
    _c.c.total_input_tokens,
    _c.c.total_output_tokens,
    _c.c.created_at,
    _c.c.updated_at,
)


_NARROWED = FilterColumns(
    _c.c.provider,
    _c.c.model,
    moment=_c.c.updated_at,
    user=_c.c.user_id,
    tenant=_c.c.tenant,
    tag=lambda tag: exists().where(_tags.c.conversation_id == _c.c.id, _tags.c.tag == tag),
)


def _filtered(query: Select[Any], filters: Filters) -> Select[Any]:
    return _NARROWED.narrow(query, filters)


def list_conversations(
    database: Database, filters: Filters, *, search: str | None = None, page: int = 1, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    """One page of conversations, most recently updated first: ``rows``, ``has_more``
    and, for a search, ``searched`` (how many conversations it read)."""
    page = max(1, page)
    offset = (page - 1) * page_size
    query = _filtered(select(*_LIST_COLUMNS), filters).order_by(_c.c.updated_at.desc(), _c.c.id.desc())
    searched: int | None = None
    if search:
        pattern = f"%{like_escape(search)}%"

        def matches(column: Any) -> Any:  # SQLite's LIKE ignores ASCII case already; PostgreSQL needs ILIKE
            if database.dialect == "sqlite":
                return column.like(pattern, escape="\\")
            return column.ilike(pattern, escape="\\")

        # The window's ids first (newest first), then their messages by the (conversation_id,
        # position) index, a chunk at a time, until the page is full: a planner never gets the
        # chance to scan every message of the ledger, and a common word reads one chunk.
        window = _filtered(select(_c.c.id), filters).order_by(_c.c.updated_at.desc(), _c.c.id.desc())
        wanted = offset + page_size + 1
        ordered: list[str] = []
        searched = 0
        with database.read() as conn:
            ids = list(conn.execute(window.limit(SEARCH_WINDOW)).scalars())
            for chunk in range(0, len(ids), _SEARCH_CHUNK):
                part = ids[chunk : chunk + _SEARCH_CHUNK]
                hits = set(conn.execute(select(_c.c.id).where(_c.c.id.in_(part), matches(_c.c.title))).scalars())
                hits.update(
                    conn.execute(
                        select(_m.c.conversation_id)
                        .where(_m.c.conversation_id.in_(part), matches(cast(_m.c.parts, Text)))
                        .distinct()
                    ).scalars()
                )
                ordered += [i for i in part if i in hits]
                searched += len(part)
                if len(ordered) >= wanted:
                    break
            page_ids = ordered[offset:wanted]
            rows = conn.execute(query.where(_c.c.id.in_(page_ids))).mappings().all() if page_ids else []
    else:
        with database.read() as conn:
            rows = conn.execute(query.limit(page_size + 1).offset(offset)).mappings().all()
    result = []
    for row in rows[:page_size]:
        data = dict(row)
        data["created_at"] = as_utc(data["created_at"])
        data["updated_at"] = as_utc(data["updated_at"])
        data["tags"] = list(data["tags"] or [])
        result.append(data)
    return {
        "rows": result,
        "has_more": len(rows) > page_size,
        "page": page,
        "searched": searched,
        "search_window": SEARCH_WINDOW,
    }


def _parts_view(message: Any) -> list[dict[str, Any]]:
    """Each part as the page shows it: text, reasoning, a tool call or result, an image."""
    shown = []
    for part in message.parts:
        kind = part.type
        if kind in ("text", "reasoning"):
            shown.append({"kind": kind, "text": part.text})
        elif kind == "tool_call":
            arguments = json.dumps(part.arguments, ensure_ascii=False, sort_keys=True, default=str)
            shown.append({"kind": kind, "name": part.name, "id": part.id, "text": arguments})
        elif kind == "tool_result":
            shown.append(
                {
                    "kind": kind,
                    "name": part.name or "",
                    "id": part.tool_call_id,
                    "text": part.content,
                    "is_error": part.is_error,
                }
            )
        elif kind == "image":
            where = part.url if part.url and not part.url.startswith("data:") else "(inline image)"
            shown.append({"kind": kind, "text": where})
        else:
            shown.append({"kind": kind, "text": ""})
    for item in shown:  # a key pasted into a prompt is not shown either
        item["text"] = redact(item["text"])
    return shown


def conversation_detail(
    database: Database, conversation_id: str, *, tenant: str | None = None
) -> dict[str, Any] | None:
    """The conversation with every message (tokens, cost, latency, provider, tool calls)
    and its failed attempts; None when there is none, or it is another tenant's."""
    query = select(_c).where(_c.c.id == conversation_id)
    if tenant is not None:
        query = query.where(_c.c.tenant == tenant)
    with database.read() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        messages = (
            conn.execute(select(_m).where(_m.c.conversation_id == conversation_id).order_by(_m.c.position))
            .mappings()
            .all()
        )
        failures = (
            conn.execute(select(_f).where(_f.c.conversation_id == conversation_id).order_by(_f.c.id)).mappings().all()
        )
    detail = {key: value for key, value in row.items() if key != "metadata"}
    for key in ("created_at", "updated_at", "archived_at"):
        detail[key] = as_utc(detail[key])
    detail["tags"] = list(detail["tags"] or [])
    detail["messages"] = []
    for message in messages:
        data = {key: value for key, value in message.items() if key != "parts"}
        decoded = decode_message(message["role"], message["name"], message["format_version"], message["parts"])
        data["parts"] = _parts_view(decoded)
        data["created_at"] = as_utc(data["created_at"])
        data["tags"] = list(data["tags"] or [])
        detail["messages"].append(data)
    detail["failures"] = [
        {**dict(f), "message": redact(f["message"]), "created_at": as_utc(f["created_at"])} for f in failures
    ]
    billed = [m for m in detail["messages"] if m["billable"]]
    detail["ledger"] = {
        "calls": len(billed),
        "cost": sum((m["cost"] for m in billed if m["cost"] is not None), start=Decimal(0)),
        "unpriced": sum(1 for m in billed if not m["cost_known"]),
        "input_tokens": sum(m["input_tokens"] or 0 for m in billed),
        "output_tokens": sum(m["output_tokens"] or 0 for m in billed),
        "failures": len(detail["failures"]),
    }
    return detail
