"""MCP: tool calls awaiting approval.

- ``ai_mcp_pending_calls``: a tool call an approver deferred, kept until
  ``conversation.approve(call_id)`` or ``.deny(call_id, reason)`` decides it
  (in any process): the server, the tool's own name and the arguments.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ai_mcp_pending_calls",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=True),
        sa.Column("tool", sa.String(length=255), nullable=False),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["ai_conversations.id"],
            name=op.f("fk_ai_mcp_pending_calls_conversation_id_ai_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "call_id", name=op.f("pk_ai_mcp_pending_calls")),
    )


def downgrade() -> None:
    op.drop_table("ai_mcp_pending_calls")
