"""Scale: provider batch jobs (and the rate-limit work's tables, in their own block).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _upgrade_batch_jobs()
    _upgrade_processed_events()


def downgrade() -> None:
    _downgrade_processed_events()
    _downgrade_batch_jobs()


# -- batches: ai_batch_jobs (ai_core.batch.tables) ------------------------------------------------


def _upgrade_batch_jobs() -> None:
    op.create_table(
        "ai_batch_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("items_digest", sa.String(length=64), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("input_file_id", sa.String(length=255), nullable=True),
        sa.Column("batch_id", sa.String(length=255), nullable=True),
        sa.Column("output_file_id", sa.String(length=255), nullable=True),
        sa.Column("error_file_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_batch_jobs")),
    )


def _downgrade_batch_jobs() -> None:
    op.drop_table("ai_batch_jobs")


# -- queue: ai_processed_events (ai_core.queue.processed) -----------------------------------------


def _upgrade_processed_events() -> None:
    op.create_table(
        "ai_processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("listener", sa.String(length=255), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "listener", name=op.f("pk_ai_processed_events")),
    )


def _downgrade_processed_events() -> None:
    op.drop_table("ai_processed_events")
