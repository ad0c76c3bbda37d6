"""Initial schema: every table of the design, the credential tables and budget state.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ai_core.storage.money import Money

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as of this revision (spelled out here, so later model changes cannot alter it).
MONEY = Money(precision=38, scale=18)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ai_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("encrypted_credential", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=32), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_accounts")),
        sa.UniqueConstraint("provider", "name", "tenant", name=op.f("uq_ai_accounts_provider_name_tenant")),
    )
    with op.batch_alter_table("ai_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_accounts_key_fingerprint"), ["key_fingerprint"], unique=False)

    op.create_table(
        "ai_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("account_name", sa.String(length=128), nullable=True),
        sa.Column("tenant", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_audit_log")),
    )
    with op.batch_alter_table("ai_audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_audit_log_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ai_audit_log_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ai_audit_log_provider_occurred_at"), ["provider", "occurred_at"], unique=False
        )

    op.create_table(
        "ai_budget_counters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("budget_key", sa.String(length=512), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("spent", MONEY, nullable=False),
        sa.Column("reserved", MONEY, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_budget_counters")),
        sa.UniqueConstraint("budget_key", "period_start", name=op.f("uq_ai_budget_counters_budget_key_period_start")),
    )
    op.create_table(
        "ai_budget_reservations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("budget_key", sa.String(length=512), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("actual", MONEY, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_budget_reservations")),
    )
    with op.batch_alter_table("ai_budget_reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_budget_reservations_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ai_budget_reservations_status_created_at"), ["status", "created_at"], unique=False
        )

    op.create_table(
        "ai_budget_threshold_marks",
        sa.Column("budget_key", sa.String(length=512), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("threshold", sa.String(length=32), nullable=False),
        sa.Column("spent", MONEY, nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("budget_key", "period_start", "threshold", name=op.f("pk_ai_budget_threshold_marks")),
    )
    op.create_table(
        "ai_conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=True),
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_cost", MONEY, server_default="0", nullable=False),
        sa.Column("unknown_cost_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_conversations")),
    )
    with op.batch_alter_table("ai_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ai_conversations_status_updated_at"), ["status", "updated_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ai_conversations_tenant_updated_at"), ["tenant", "updated_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ai_conversations_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ai_conversations_user_id_updated_at"), ["user_id", "updated_at"], unique=False
        )

    op.create_table(
        "ai_cost_tracking",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_key", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("unknown_cost_requests", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_cost_tracking")),
        sa.UniqueConstraint(
            "day",
            "user_key",
            "provider",
            "model",
            "currency",
            name=op.f("uq_ai_cost_tracking_day_user_key_provider_model_currency"),
        ),
    )
    with op.batch_alter_table("ai_cost_tracking", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_cost_tracking_day"), ["day"], unique=False)

    op.create_table(
        "ai_model_performance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column("error_rate", sa.Float(), nullable=False),
        sa.Column("avg_latency_ms", sa.Float(), nullable=True),
        sa.Column("p50_latency_ms", sa.Float(), nullable=True),
        sa.Column("p95_latency_ms", sa.Float(), nullable=True),
        sa.Column("max_latency_ms", sa.Float(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_model_performance")),
        sa.UniqueConstraint("day", "provider", "model", name=op.f("uq_ai_model_performance_day_provider_model")),
    )
    with op.batch_alter_table("ai_model_performance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_model_performance_day"), ["day"], unique=False)

    op.create_table(
        "ai_providers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("driver", sa.String(length=255), nullable=True),
        sa.Column("base_url", sa.String(length=512), nullable=True),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_ai_providers_name")),
    )
    op.create_table(
        "ai_usage_analytics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("failed_requests", sa.Integer(), nullable=False),
        sa.Column("unknown_cost_requests", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("avg_latency_ms", sa.Float(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_usage_analytics")),
        sa.UniqueConstraint(
            "day", "provider", "model", "currency", name=op.f("uq_ai_usage_analytics_day_provider_model_currency")
        ),
    )
    with op.batch_alter_table("ai_usage_analytics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_usage_analytics_day"), ["day"], unique=False)

    op.create_table(
        "ai_conversation_participants",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("participant", sa.String(length=255), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["ai_conversations.id"],
            name=op.f("fk_ai_conversation_participants_conversation_id_ai_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "kind", "participant", name=op.f("pk_ai_conversation_participants")),
    )
    op.create_table(
        "ai_conversation_tags",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["ai_conversations.id"],
            name=op.f("fk_ai_conversation_tags_conversation_id_ai_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name=op.f("pk_ai_conversation_tags")),
    )
    with op.batch_alter_table("ai_conversation_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_conversation_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "ai_failed_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("turn_id", sa.String(length=32), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("error_type", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["ai_conversations.id"],
            name=op.f("fk_ai_failed_attempts_conversation_id_ai_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_failed_attempts")),
    )
    with op.batch_alter_table("ai_failed_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_failed_attempts_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ai_failed_attempts_created_on_provider_model"),
            ["created_on", "provider", "model"],
            unique=False,
        )

    op.create_table(
        "ai_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("parts", JSON, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("tenant", sa.String(length=255), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("finish_reason", sa.String(length=32), nullable=True),
        sa.Column("response_id", sa.String(length=255), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", MONEY, nullable=True),
        sa.Column("cost_known", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("price_effective_from", sa.Date(), nullable=True),
        sa.Column("priced_by", sa.String(length=64), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("streamed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["ai_conversations.id"],
            name=op.f("fk_ai_messages_conversation_id_ai_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_messages")),
    )
    with op.batch_alter_table("ai_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ai_messages_billable_cost_known_created_on"),
            ["billable", "cost_known", "created_on"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ai_messages_conversation_id_position"), ["conversation_id", "position"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_ai_messages_created_on_provider_model"), ["created_on", "provider", "model"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ai_messages_tenant_created_on"), ["tenant", "created_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_ai_messages_user_id_created_on"), ["user_id", "created_on"], unique=False)

    op.create_table(
        "ai_provider_models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("context_window", sa.Integer(), nullable=True),
        sa.Column("max_output_tokens", sa.Integer(), nullable=True),
        sa.Column("capabilities", JSON, nullable=False),
        sa.Column("reasoning", sa.Boolean(), nullable=False),
        sa.Column("deprecated", sa.Boolean(), nullable=False),
        sa.Column("served_by", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["ai_providers.id"],
            name=op.f("fk_ai_provider_models_provider_id_ai_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_provider_models")),
        sa.UniqueConstraint("provider_id", "model_id", name=op.f("uq_ai_provider_models_provider_id_model_id")),
    )
    op.create_table(
        "ai_provider_model_costs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("input_per_mtok", MONEY, nullable=False),
        sa.Column("output_per_mtok", MONEY, nullable=False),
        sa.Column("cached_input_per_mtok", MONEY, nullable=True),
        sa.Column("cache_write_per_mtok", MONEY, nullable=True),
        sa.Column("reasoning_per_mtok", MONEY, nullable=True),
        sa.Column("tiers", JSON, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["ai_provider_models.id"],
            name=op.f("fk_ai_provider_model_costs_model_id_ai_provider_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_provider_model_costs")),
        sa.UniqueConstraint(
            "model_id",
            "effective_from",
            "currency",
            name=op.f("uq_ai_provider_model_costs_model_id_effective_from_currency"),
        ),
    )
    with op.batch_alter_table("ai_provider_model_costs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ai_provider_model_costs_model_id_effective_from"),
            ["model_id", "effective_from"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ai_provider_model_costs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_provider_model_costs_model_id_effective_from"))

    op.drop_table("ai_provider_model_costs")
    op.drop_table("ai_provider_models")
    with op.batch_alter_table("ai_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_messages_user_id_created_on"))
        batch_op.drop_index(batch_op.f("ix_ai_messages_tenant_created_on"))
        batch_op.drop_index(batch_op.f("ix_ai_messages_created_on_provider_model"))
        batch_op.drop_index(batch_op.f("ix_ai_messages_conversation_id_position"))
        batch_op.drop_index(batch_op.f("ix_ai_messages_billable_cost_known_created_on"))

    op.drop_table("ai_messages")
    with op.batch_alter_table("ai_failed_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_failed_attempts_created_on_provider_model"))
        batch_op.drop_index(batch_op.f("ix_ai_failed_attempts_conversation_id"))

    op.drop_table("ai_failed_attempts")
    with op.batch_alter_table("ai_conversation_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_conversation_tags_tag"))

    op.drop_table("ai_conversation_tags")
    op.drop_table("ai_conversation_participants")
    with op.batch_alter_table("ai_usage_analytics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_usage_analytics_day"))

    op.drop_table("ai_usage_analytics")
    op.drop_table("ai_providers")
    with op.batch_alter_table("ai_model_performance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_model_performance_day"))

    op.drop_table("ai_model_performance")
    with op.batch_alter_table("ai_cost_tracking", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_cost_tracking_day"))

    op.drop_table("ai_cost_tracking")
    with op.batch_alter_table("ai_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_conversations_user_id_updated_at"))
        batch_op.drop_index(batch_op.f("ix_ai_conversations_updated_at"))
        batch_op.drop_index(batch_op.f("ix_ai_conversations_tenant_updated_at"))
        batch_op.drop_index(batch_op.f("ix_ai_conversations_status_updated_at"))

    op.drop_table("ai_conversations")
    op.drop_table("ai_budget_threshold_marks")
    with op.batch_alter_table("ai_budget_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_budget_reservations_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_ai_budget_reservations_call_id"))

    op.drop_table("ai_budget_reservations")
    op.drop_table("ai_budget_counters")
    with op.batch_alter_table("ai_audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_audit_log_provider_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_ai_audit_log_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_ai_audit_log_account_id"))

    op.drop_table("ai_audit_log")
    with op.batch_alter_table("ai_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_accounts_key_fingerprint"))

    op.drop_table("ai_accounts")
