"""Indexes the dashboard's queries need, on tables other modules own.

Declared here beside the queries they serve, attached to the shared metadata
(``ai_core.storage.models`` imports this module) and created by migration
0008, so the migrated schema and the models agree.
"""

from __future__ import annotations

from sqlalchemy import Index

from ai_core.budgets.tables import BudgetCounter
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.base import table_of
from ai_core.storage.conversation_tables import Conversation, FailedAttempt

__all__ = ["DASHBOARD_INDEXES"]

_tracking = table_of(CostTracking)
_failures = table_of(FailedAttempt)
_conversations = table_of(Conversation)
_counters = table_of(BudgetCounter)

DASHBOARD_INDEXES: tuple[Index, ...] = (
    # Spend of one tenant (a tenant-scoped token) without reading other tenants' days.
    Index(None, _tracking.c.tenant_key, _tracking.c.day),
    # Failures over time by provider and error type: an index-only scan of the range.
    Index(None, _failures.c.created_on, _failures.c.provider, _failures.c.error_type),
    Index(None, _failures.c.tenant, _failures.c.created_on),
    # Conversations filtered by model, newest first.
    Index(None, _conversations.c.model, _conversations.c.updated_at),
    # Budgets: the counters of the current periods.
    Index(None, _counters.c.period_start),
)
