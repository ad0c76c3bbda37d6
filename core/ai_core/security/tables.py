"""Tables of request security, memory and agent actions (migration 0007).

* ``ai_call_audit``: the append-only, hash-chained audit trail, one row per
  model call (:mod:`ai_core.security.audit`). ``payload`` is the canonical JSON
  that is hashed; the other columns repeat some of it for queries and are
  checked against it by ``ai audit verify``.
* ``ai_call_audit_head``: one row per chain, the last sequence number and hash.
  Appending locks it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
  lock), which orders concurrent writers; verifying compares it with the last
  row, so deleting the newest rows is detected too.
* ``ai_pii_originals``: with the PII store policy ``both``, the original text of a
  redacted message, encrypted with the credential key (Fernet), found by the
  SHA-256 of the redacted text it stands behind.
* ``ai_conversation_memory``: a conversation's rolling summary, under the key
  ``ai:conversation:{id}:context`` (the design's cache key name).
* ``ai_agent_actions``: actions the model requested, their state and outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import JSONType, utcnow
from ai_core.storage.money import Money

__all__ = ["AgentAction", "AuditHead", "AuditRecord", "ConversationMemory", "PIIOriginal"]


class AuditRecord(Base):
    __tablename__ = "ai_call_audit"
    __table_args__ = (
        Index(None, "occurred_at"),
        Index(None, "tenant", "occurred_at"),
    )

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str] = mapped_column(String(255), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditHead(Base):
    __tablename__ = "ai_call_audit_head"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class PIIOriginal(Base):
    __tablename__ = "ai_pii_originals"
    __table_args__ = (Index(None, "conversation_id", "redacted_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    redacted_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    encrypted_original: Mapped[str] = mapped_column(Text, nullable=False)
    key_fingerprint: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class ConversationMemory(Base):
    __tablename__ = "ai_conversation_memory"

    conversation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(96), nullable=False, unique=True)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    covered_messages: Mapped[int] = mapped_column(Integer, nullable=False)
    """How many of the conversation's first messages the summary stands for."""
    summary_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    model: Mapped[str] = mapped_column(String(255), nullable=False)
    summarizer_conversation_id: Mapped[str | None] = mapped_column(String(32))
    cost: Mapped[Any] = mapped_column(Money(), nullable=True)
    summaries: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class AgentAction(Base):
    __tablename__ = "ai_agent_actions"
    __table_args__ = (
        Index(None, "status", "lease_until"),
        Index(None, "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    tool_call_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(255))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    """``requested``, ``running``, ``succeeded``, ``failed`` or ``denied``."""
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
