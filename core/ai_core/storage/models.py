"""Every table of ai-core's schema, imported in one place.

Alembic's autogenerate and ``metadata.create_all`` see only tables whose
modules were imported; importing this module guarantees the whole schema,
including the credential tables owned by :mod:`ai_core.credentials`.
"""

from __future__ import annotations

from ai_core.batch.tables import BatchJob
from ai_core.budgets.tables import BudgetCounter, BudgetReservation, BudgetThresholdMark
from ai_core.credentials.tables import Account, AuditLogEntry
from ai_core.dashboard import indexes as _dashboard_indexes  # noqa: F401  (indexes on the tables above)
from ai_core.dashboard.rollup_tables import SpendRollup, SpendRollupStamp
from ai_core.integrations.tables import NotificationMark, WebhookDelivery
from ai_core.mcp.tables import PendingToolCall
from ai_core.queue.processed import ProcessedEvent
from ai_core.security.tables import AgentAction, AuditHead, AuditRecord, ConversationMemory, PIIOriginal
from ai_core.storage.analytics_tables import CostTracking, ModelPerformance, UsageAnalytics
from ai_core.storage.base import Base, metadata
from ai_core.storage.catalog_tables import Provider, ProviderModel, ProviderModelCost
from ai_core.storage.conversation_tables import (
    Conversation,
    ConversationParticipant,
    ConversationTag,
    FailedAttempt,
    StoredMessage,
)

__all__ = [
    "Account",
    "AgentAction",
    "AuditHead",
    "AuditLogEntry",
    "AuditRecord",
    "Base",
    "BatchJob",
    "BudgetCounter",
    "BudgetReservation",
    "BudgetThresholdMark",
    "Conversation",
    "ConversationMemory",
    "ConversationParticipant",
    "ConversationTag",
    "CostTracking",
    "FailedAttempt",
    "ModelPerformance",
    "NotificationMark",
    "PIIOriginal",
    "PendingToolCall",
    "ProcessedEvent",
    "Provider",
    "ProviderModel",
    "ProviderModelCost",
    "SpendRollup",
    "SpendRollupStamp",
    "StoredMessage",
    "UsageAnalytics",
    "WebhookDelivery",
    "metadata",
]
