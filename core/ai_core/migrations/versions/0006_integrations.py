"""Integrations: webhook deliveries, notification marks, participants' roles.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ai_webhook_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=128), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_webhook_deliveries")),
    )
    with op.batch_alter_table("ai_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ai_webhook_deliveries_status_created_at"), ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ai_webhook_deliveries_endpoint_created_at"), ["endpoint", "created_at"], unique=False
        )
    op.create_table(
        "ai_notification_marks",
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_ai_notification_marks")),
    )
    with op.batch_alter_table("ai_conversation_participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ai_conversation_participants", schema=None) as batch_op:
        batch_op.drop_column("role")
    op.drop_table("ai_notification_marks")
    with op.batch_alter_table("ai_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_webhook_deliveries_endpoint_created_at"))
        batch_op.drop_index(batch_op.f("ix_ai_webhook_deliveries_status_created_at"))
    op.drop_table("ai_webhook_deliveries")
