"""PostgreSQL: a model call's whole ledger write as one statement.

On SQLite a ledger write is a short transaction of a few statements, each a
C call. On PostgreSQL every statement is a trip through psycopg's pipeline
machinery and the server, and the conversation's new message count had to
come back (``UPDATE ... RETURNING``) before the messages could be numbered:
five statements, two round trips and about a millisecond of client CPU per
call. Here the same write is one statement of data-modifying CTEs, run in
autocommit (one statement is one transaction: still all or nothing):

* ``conv``: the conversation's row, created with the call's count and totals
  or, if it exists, added to (``INSERT ... ON CONFLICT DO UPDATE``), returning
  the new message count;
* ``msgs``: the staged user messages and the answer, numbered back from that
  count, so positions stay gap-free and unique per conversation (the row lock
  the upsert takes orders concurrent writers of one conversation);
* ``parts``, ``tags``: participants and tags, ``ON CONFLICT DO NOTHING``;
* ``cost``: the ``ai_cost_tracking`` row, upserted.

Foreign keys are checked when the statement ends, after the conversation row
exists. The rows travel as five JSON parameters unpacked by
``jsonb_to_recordset``: one statement text for every shape of call, short and
with few enough parameters that psycopg caches its parsing (it re-parses a
query longer than 4,096 characters or with more than 50 parameters on every
execution, which cost more than everything else here).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.types import TypeEngine

from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.base import table_of
from ai_core.storage.conversation_tables import Conversation, ConversationParticipant, StoredMessage
from ai_core.storage.cost_tracker import TRACKING_ADDED, TRACKING_KEY
from ai_core.storage.money import Money

__all__ = ["as_json", "record_sql"]

_conversations = table_of(Conversation)
_messages = table_of(StoredMessage)
_tracking = table_of(CostTracking)
_participants = table_of(ConversationParticipant)

_ADDED_TO_CONVERSATION = ("message_count", "unknown_cost_count", "total_input_tokens", "total_output_tokens")
_REPLACED_IN_CONVERSATION = ("updated_at", "provider", "model")


def _pg_type(column_type: TypeEngine[Any]) -> str:
    """The type a JSON field is read as (the target column then checks lengths)."""
    for python_type, name in (
        (Money, "numeric"),
        (DateTime, "timestamptz"),
        (Date, "date"),
        (Boolean, "boolean"),
        (BigInteger, "bigint"),
        (Integer, "int"),
        (Float, "float8"),
        (String, "text"),
        (Text, "text"),
    ):
        if isinstance(column_type, python_type):
            return name
    return "jsonb"  # the JSON columns


def _record_of(table: Any, names: list[str]) -> str:
    return ",".join(f"{name} {_pg_type(table.c[name].type)}" for name in names)


@cache
def record_sql() -> str:
    """The statement (psycopg ``%(name)s`` parameters: ``conversation``, ``messages``,
    ``participants``, ``tags``, ``tracking``, each a JSON text; ``id``)."""
    conv = [c.name for c in _conversations.columns if c.name != "archived_at"]
    added = ",".join(f"{n}=ai_conversations.{n}+excluded.{n}" for n in _ADDED_TO_CONVERSATION)
    replaced = ",".join(f"{n}=excluded.{n}" for n in _REPLACED_IN_CONVERSATION)
    messages = [c.name for c in _messages.columns if c.name != "position"]
    tracked = [c.name for c in _tracking.columns if c.name != "id"]
    joined = [c.name for c in _participants.columns]
    tracking_added = ",".join(f"{n}=ai_cost_tracking.{n}+excluded.{n}" for n in TRACKING_ADDED)
    return (
        f"WITH conv AS (INSERT INTO ai_conversations ({','.join(conv)})"
        f" SELECT * FROM jsonb_to_record(%(conversation)s::jsonb) AS r({_record_of(_conversations, conv)})"
        f" ON CONFLICT (id) DO UPDATE SET {added},{replaced},"
        "total_cost=ai_conversations.total_cost+excluded.total_cost RETURNING message_count),"
        f" msgs AS (INSERT INTO ai_messages ({','.join(messages)},position)"
        f" SELECT {','.join('r.' + n for n in messages)},(SELECT message_count FROM conv)-r.back"
        f" FROM jsonb_to_recordset(%(messages)s::jsonb) AS r({_record_of(_messages, messages)},back int)),"
        f" parts AS (INSERT INTO ai_conversation_participants ({','.join(joined)})"
        f" SELECT * FROM jsonb_to_recordset(%(participants)s::jsonb) AS r({_record_of(_participants, joined)})"
        " ON CONFLICT DO NOTHING),"
        " tags AS (INSERT INTO ai_conversation_tags (conversation_id,tag)"
        " SELECT %(id)s,t FROM jsonb_array_elements_text(%(tags)s::jsonb) t ON CONFLICT DO NOTHING),"
        f" cost AS (INSERT INTO ai_cost_tracking ({','.join(tracked)})"
        f" SELECT * FROM jsonb_to_recordset(%(tracking)s::jsonb) AS r({_record_of(_tracking, tracked)})"
        f" ON CONFLICT ({','.join(TRACKING_KEY)}) DO UPDATE SET {tracking_added},"
        "cost=ai_cost_tracking.cost+excluded.cost,updated_at=excluded.updated_at)"
        " SELECT message_count FROM conv"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")  # exact text; numeric reads it as it is
    raise TypeError(f"cannot store a {type(value).__name__} in the ledger")


def as_json(rows: dict[str, Any] | list[dict[str, Any]]) -> str:
    """``rows`` as the JSON text ``jsonb_to_record(set)`` reads: timestamps and dates in
    ISO form, money as exact decimal text."""
    return json.dumps(rows, separators=(",", ":"), default=_plain)
