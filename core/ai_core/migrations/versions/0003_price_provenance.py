"""Price provenance and provider-reported cost.

- ``ai_provider_model_costs``: ``source``, ``source_version`` and
  ``source_date`` (where a stored price row comes from, e.g. genai-prices
  0.2.3 imported on a day) and ``billed_as`` (the model whose row an alias uses).
- ``ai_messages``: ``reported_cost``, the cost the provider itself reported for
  the call (xAI's ``cost_in_usd_ticks``, OpenRouter's ``usage.cost``), stored
  beside the computed ``cost``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ai_core.storage.money import Money

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = Money(precision=38, scale=18)


def upgrade() -> None:
    with op.batch_alter_table("ai_provider_model_costs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("source_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("source_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("billed_as", sa.String(length=255), nullable=True))
    with op.batch_alter_table("ai_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reported_cost", MONEY, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ai_messages", schema=None) as batch_op:
        batch_op.drop_column("reported_cost")
    with op.batch_alter_table("ai_provider_model_costs", schema=None) as batch_op:
        batch_op.drop_column("billed_as")
        batch_op.drop_column("source_date")
        batch_op.drop_column("source_version")
        batch_op.drop_column("source")
