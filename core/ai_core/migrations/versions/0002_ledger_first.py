"""Ledger first: each model call's row says what became of it; holds have leases.

- ``ai_messages``: ``outcome``, ``usage_estimated``, ``call_id`` and ``tags``
  (billable rows written before their call was known to succeed).
- ``ai_cost_tracking``: keyed by tenant and tag set too, and recomputed here
  from the ledger, since the old rows cannot be split by tenant.
- ``ai_budget_reservations``: ``expires_at``, the lease of a hold.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ai_core.storage.money import Money

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = Money(precision=38, scale=18)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_OLD_KEY = "uq_ai_cost_tracking_day_user_key_provider_model_currency"
_NEW_KEY = "uq_ai_cost_tracking_day_user_key_tenant_key_tags_key_provider_model_currency"


def upgrade() -> None:
    with op.batch_alter_table("ai_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("usage_estimated", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("call_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("tags", JSON, nullable=True))
        batch_op.create_index(batch_op.f("ix_ai_messages_call_id"), ["call_id"], unique=False)
    op.execute("UPDATE ai_messages SET outcome = 'answered' WHERE billable")

    with op.batch_alter_table("ai_budget_reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_ai_budget_reservations_expires_at"), ["expires_at"], unique=False)

    with op.batch_alter_table("ai_cost_tracking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_key", sa.String(length=255), server_default="", nullable=False))
        batch_op.add_column(sa.Column("tags_key", sa.String(length=1024), server_default="", nullable=False))
        batch_op.drop_constraint(_OLD_KEY, type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f(_NEW_KEY), ["day", "user_key", "tenant_key", "tags_key", "provider", "model", "currency"]
        )
    _recompute_cost_tracking()


def _recompute_cost_tracking() -> None:
    """ai_cost_tracking from the billable ledger rows, with the new key (tags of
    old rows come from their conversation's tag rows)."""
    conn = op.get_bind()
    messages = sa.table(
        "ai_messages",
        sa.column("conversation_id"),
        sa.column("created_on"),
        sa.column("user_id"),
        sa.column("tenant"),
        sa.column("provider"),
        sa.column("model"),
        sa.column("currency"),
        sa.column("billable"),
        sa.column("cost_known"),
        sa.column("input_tokens"),
        sa.column("output_tokens"),
        sa.column("cost", MONEY),
    )
    tag_rows = sa.table("ai_conversation_tags", sa.column("conversation_id"), sa.column("tag"))
    tracking = sa.table(
        "ai_cost_tracking",
        sa.column("day"),
        sa.column("user_key"),
        sa.column("tenant_key"),
        sa.column("tags_key"),
        sa.column("provider"),
        sa.column("model"),
        sa.column("currency"),
        sa.column("requests"),
        sa.column("unknown_cost_requests"),
        sa.column("input_tokens"),
        sa.column("output_tokens"),
        sa.column("cost", MONEY),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    tags: dict[str, list[str]] = defaultdict(list)
    for conversation_id, tag in conn.execute(sa.select(tag_rows.c.conversation_id, tag_rows.c.tag)):
        tags[conversation_id].append(tag)
    totals: dict[tuple[Any, ...], list[Any]] = {}
    for row in conn.execute(sa.select(messages).where(messages.c.billable.is_(True))):
        tag_list = sorted(set(tags.get(row.conversation_id, [])))
        key = (
            row.created_on,
            row.user_id or "",
            row.tenant or "",
            f",{','.join(tag_list)}," if tag_list else "",
            row.provider,
            row.model,
            row.currency or "USD",
        )
        entry = totals.setdefault(key, [0, 0, 0, 0, Decimal(0)])
        entry[0] += 1
        entry[1] += 0 if row.cost_known else 1
        entry[2] += row.input_tokens or 0
        entry[3] += row.output_tokens or 0
        entry[4] += row.cost if row.cost is not None else Decimal(0)
    conn.execute(sa.delete(tracking))
    now = datetime.now(UTC)
    if totals:
        conn.execute(
            tracking.insert(),
            [
                {
                    "day": key[0],
                    "user_key": key[1],
                    "tenant_key": key[2],
                    "tags_key": key[3],
                    "provider": key[4],
                    "model": key[5],
                    "currency": key[6],
                    "requests": value[0],
                    "unknown_cost_requests": value[1],
                    "input_tokens": value[2],
                    "output_tokens": value[3],
                    "cost": value[4],
                    "updated_at": now,
                }
                for key, value in totals.items()
            ],
        )


def downgrade() -> None:
    op.execute("DELETE FROM ai_cost_tracking")
    with op.batch_alter_table("ai_cost_tracking", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(_NEW_KEY), type_="unique")
        batch_op.create_unique_constraint(_OLD_KEY, ["day", "user_key", "provider", "model", "currency"])
        batch_op.drop_column("tags_key")
        batch_op.drop_column("tenant_key")
    with op.batch_alter_table("ai_budget_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_budget_reservations_expires_at"))
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("ai_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_messages_call_id"))
        batch_op.drop_column("tags")
        batch_op.drop_column("call_id")
        batch_op.drop_column("usage_estimated")
        batch_op.drop_column("outcome")
