"""Conversations and the message ledger.

``ai_messages`` is the ledger of money: every response row carries its tokens,
cost, currency, price date, latency, provider and model. Every derived table
(analytics, cost tracking, model performance) can be rebuilt from it.

Messages are stored as ``format_version`` + ``parts`` (the JSON of
``Message.model_dump(mode="json")["parts"]``); :mod:`ai_core.storage.message_format`
reads every known version and refuses unknown ones.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import JSONType, utcnow
from ai_core.storage.money import Money

__all__ = ["Conversation", "ConversationParticipant", "ConversationTag", "FailedAttempt", "StoredMessage"]

_ID = String(32)


def partial(condition: str) -> dict[str, Any]:
    """An index's WHERE clause on both databases. Queries filtering the column by
    equality use such an index (both planners prove ``x = ?`` implies ``x IS NOT NULL``)."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


def _conversation_fk() -> ForeignKey:
    return ForeignKey("ai_conversations.id", ondelete="CASCADE")


class Conversation(Base):
    """One conversation with running totals kept exact by SQL increments."""

    __tablename__ = "ai_conversations"
    __table_args__ = (
        # Partial: most conversations have no user or tenant, and a write then skips these two.
        Index(None, "user_id", "updated_at", **partial("user_id IS NOT NULL")),
        Index(None, "tenant", "updated_at", **partial("tenant IS NOT NULL")),
        Index(None, "status", "updated_at"),
        Index(None, "updated_at"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    title: Mapped[str | None] = mapped_column(String(255))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    """``active`` or ``archived`` (by the cleanup job)."""
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(255))
    message_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    """Sum of the known costs of this conversation's responses."""
    unknown_cost_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Responses whose price was unknown: a total is only complete when this is 0."""
    total_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConversationTag(Base):
    """Free-form tags, one row each, so usage and budgets can group by tag."""

    __tablename__ = "ai_conversation_tags"
    __table_args__ = (Index(None, "tag"),)

    conversation_id: Mapped[str] = mapped_column(_ID, _conversation_fk(), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)


class ConversationParticipant(Base):
    """Who took part: users, models (``provider/model``) and tools."""

    __tablename__ = "ai_conversation_participants"

    conversation_id: Mapped[str] = mapped_column(_ID, _conversation_fk(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    participant: Mapped[str] = mapped_column(String(255), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    role: Mapped[str | None] = mapped_column(String(32))
    """What a person added with ``add_participant`` does here (``reviewer``, ``owner``...)."""


class StoredMessage(Base):
    """One message; assistant responses also carry the usage and money of their call."""

    __tablename__ = "ai_messages"
    __table_args__ = (
        Index(None, "conversation_id", "position", unique=True),
        Index(None, "created_on", "provider", "model"),
        # Partial: a row without a user, tenant or call id (most rows) is written to none of these.
        Index(None, "user_id", "created_on", **partial("user_id IS NOT NULL")),
        Index(None, "tenant", "created_on", **partial("tenant IS NOT NULL")),
        Index(None, "billable", "cost_known", "created_on"),
        Index(None, "call_id", **partial("call_id IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(_ID, _conversation_fk())
    position: Mapped[int] = mapped_column(Integer)
    """1-based order within the conversation, assigned atomically from its counter."""
    turn_id: Mapped[str | None] = mapped_column(_ID)
    """The id of the user message that started this turn."""
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    format_version: Mapped[int] = mapped_column(Integer)
    parts: Mapped[Any] = mapped_column(JSONType)
    user_id: Mapped[str | None] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(255))
    billable: Mapped[bool] = mapped_column(Boolean, default=False)
    """True for a model response: a row of the money ledger."""
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    response_id: Mapped[str | None] = mapped_column(String(255))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal | None] = mapped_column(Money())
    cost_known: Mapped[bool] = mapped_column(Boolean, default=False)
    """False with ``billable`` means the price was unknown: recorded, never zero."""
    currency: Mapped[str | None] = mapped_column(String(8))
    price_effective_from: Mapped[date | None] = mapped_column(Date)
    priced_by: Mapped[str | None] = mapped_column(String(64))
    reported_cost: Mapped[Decimal | None] = mapped_column(Money())
    """The cost the provider itself reported (xAI, OpenRouter), beside the computed ``cost``."""
    latency_ms: Mapped[float | None] = mapped_column(Float)
    streamed: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str | None] = mapped_column(String(24))
    """For a billable row, what became of the call: ``answered``, ``parse_failed``,
    ``tool_round_limit`` or ``interrupted`` (a stream cut after it was paid for)."""
    usage_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """The provider reported no usage: tokens (and cost) are estimated from the text."""
    call_id: Mapped[str | None] = mapped_column(_ID)
    """The model call this row records (a budget hold names the same id)."""
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    """The conversation's tags when this row was written, so spend by tag is exact."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_on: Mapped[date] = mapped_column(Date)
    """UTC day of ``created_at``, stored so every database groups days alike."""


class FailedAttempt(Base):
    """A provider call that failed: the user message stays, no response is written."""

    __tablename__ = "ai_failed_attempts"
    __table_args__ = (
        Index(None, "conversation_id"),
        Index(None, "created_on", "provider", "model"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(_ID, _conversation_fk())
    turn_id: Mapped[str | None] = mapped_column(_ID)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(255))
    error_type: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    """Redacted: never a secret."""
    status_code: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[str | None] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_on: Mapped[date] = mapped_column(Date)
