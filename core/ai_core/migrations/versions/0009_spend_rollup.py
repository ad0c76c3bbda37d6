"""Dashboard: the spend rollup of closed days and months (see ai_core.dashboard.rollup).

- ``ai_spend_rollup``: calls, tokens and cost per period, tenant scope, dimension and key.
- ``ai_spend_rollup_stamps``: what each rolled-up period was built from.

Both are derived from ``ai_cost_tracking`` on demand: created empty here, filled by the
dashboard's first pages.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ai_core.storage.money import Money

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = Money(precision=38, scale=18)


def upgrade() -> None:
    op.create_table(
        "ai_spend_rollup",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tenant_key", sa.String(length=255), nullable=True),
        sa.Column("dimension", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("unknown_cost_requests", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_spend_rollup")),
    )
    with op.batch_alter_table("ai_spend_rollup", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ai_spend_rollup_dimension_tenant_key_grain_day", ["dimension", "tenant_key", "grain", "day"]
        )
        batch_op.create_index(
            "ix_ai_spend_rollup_dimension_tenant_key_key_grain_day", ["dimension", "tenant_key", "key", "grain", "day"]
        )
        batch_op.create_index("ix_ai_spend_rollup_grain_day", ["grain", "day"])
    op.create_table(
        "ai_spend_rollup_stamps",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_rows", sa.BigInteger(), nullable=False),
        sa.Column("source_requests", sa.BigInteger(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("grain", "day", name=op.f("pk_ai_spend_rollup_stamps")),
    )


def downgrade() -> None:
    op.drop_table("ai_spend_rollup_stamps")
    with op.batch_alter_table("ai_spend_rollup", schema=None) as batch_op:
        batch_op.drop_index("ix_ai_spend_rollup_grain_day")
        batch_op.drop_index("ix_ai_spend_rollup_dimension_tenant_key_key_grain_day")
        batch_op.drop_index("ix_ai_spend_rollup_dimension_tenant_key_grain_day")
    op.drop_table("ai_spend_rollup")
