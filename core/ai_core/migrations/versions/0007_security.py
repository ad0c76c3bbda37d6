"""Security: the call audit chain, PII originals, conversation memory and agent actions.

- ``ai_call_audit`` and ``ai_call_audit_head``: the append-only, hash-chained
  audit trail of model calls and the head of each chain.
- ``ai_pii_originals``: originals of redacted text, encrypted (PII store policy ``both``).
- ``ai_conversation_memory``: rolling conversation summaries (``ai:conversation:{id}:context``).
- ``ai_agent_actions``: actions a model requested, their state and outcome.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ai_core.storage.money import Money

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = Money(precision=38, scale=18)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ai_call_audit",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", "seq", name=op.f("pk_ai_call_audit")),
        sa.UniqueConstraint("hash", name=op.f("uq_ai_call_audit_hash")),
    )
    op.create_index(op.f("ix_ai_call_audit_occurred_at"), "ai_call_audit", ["occurred_at"], unique=False)
    op.create_index(
        op.f("ix_ai_call_audit_tenant_occurred_at"), "ai_call_audit", ["tenant", "occurred_at"], unique=False
    )
    op.create_table(
        "ai_call_audit_head",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_ai_call_audit_head")),
    )
    op.create_table(
        "ai_pii_originals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("redacted_sha256", sa.String(length=64), nullable=False),
        sa.Column("encrypted_original", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_pii_originals")),
    )
    op.create_index(
        op.f("ix_ai_pii_originals_conversation_id_redacted_sha256"),
        "ai_pii_originals",
        ["conversation_id", "redacted_sha256"],
        unique=False,
    )
    op.create_table(
        "ai_conversation_memory",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("covered_messages", sa.Integer(), nullable=False),
        sa.Column("summary_tokens", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("summarizer_conversation_id", sa.String(length=32), nullable=True),
        sa.Column("cost", MONEY, nullable=True),
        sa.Column("summaries", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_ai_conversation_memory")),
        sa.UniqueConstraint("key", name=op.f("uq_ai_conversation_memory_key")),
    )
    op.create_table(
        "ai_agent_actions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("tool_call_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_agent_actions")),
    )
    op.create_index(op.f("ix_ai_agent_actions_conversation_id"), "ai_agent_actions", ["conversation_id"], unique=False)
    op.create_index(
        op.f("ix_ai_agent_actions_status_lease_until"), "ai_agent_actions", ["status", "lease_until"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ai_agent_actions_status_lease_until"), table_name="ai_agent_actions")
    op.drop_index(op.f("ix_ai_agent_actions_conversation_id"), table_name="ai_agent_actions")
    op.drop_table("ai_agent_actions")
    op.drop_table("ai_conversation_memory")
    op.drop_index(op.f("ix_ai_pii_originals_conversation_id_redacted_sha256"), table_name="ai_pii_originals")
    op.drop_table("ai_pii_originals")
    op.drop_table("ai_call_audit_head")
    op.drop_index(op.f("ix_ai_call_audit_tenant_occurred_at"), table_name="ai_call_audit")
    op.drop_index(op.f("ix_ai_call_audit_occurred_at"), table_name="ai_call_audit")
    op.drop_table("ai_call_audit")
