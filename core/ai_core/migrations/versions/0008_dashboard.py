"""Dashboard: indexes the dashboard's queries need (see ai_core.dashboard.indexes).

- ``ai_cost_tracking (tenant_key, day)``: a tenant's spend without other tenants' rows.
- ``ai_failed_attempts (created_on, provider, error_type)`` and ``(tenant, created_on)``:
  failures over time, all or one tenant's.
- ``ai_conversations (model, updated_at)``: conversations of one model, newest first.
- ``ai_budget_counters (period_start)``: the counters of the current periods.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_ai_cost_tracking_tenant_key_day", "ai_cost_tracking", ["tenant_key", "day"]),
    (
        "ix_ai_failed_attempts_created_on_provider_error_type",
        "ai_failed_attempts",
        ["created_on", "provider", "error_type"],
    ),
    ("ix_ai_failed_attempts_tenant_created_on", "ai_failed_attempts", ["tenant", "created_on"]),
    ("ix_ai_conversations_model_updated_at", "ai_conversations", ["model", "updated_at"]),
    ("ix_ai_budget_counters_period_start", "ai_budget_counters", ["period_start"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
