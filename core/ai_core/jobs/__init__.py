"""Maintenance jobs from the design, as plain callables (``ai jobs run NAME``).

* ``sync-models``: :func:`ai_core.jobs.sync_models.sync_models`
* ``calculate-costs``: :func:`ai_core.jobs.calculate_costs.calculate_costs`
* ``generate-analytics``: :func:`ai_core.jobs.generate_analytics.generate_analytics`
* ``cleanup-conversations``: :func:`ai_core.jobs.cleanup_conversations.cleanup_conversations`
* ``expire-holds``: :func:`ai_core.budgets.ledger.expire_stale_holds`

Each is safe to run at any time and from cron; none keeps state of its own.
"""

from __future__ import annotations

__all__ = ["JOBS"]

JOBS: dict[str, tuple[str, str]] = {
    "sync-models": ("ai_core.jobs.sync_models:sync_models", "Store models and prices from plugins (and providers)."),
    "calculate-costs": ("ai_core.jobs.calculate_costs:calculate_costs", "Price responses recorded with unknown cost."),
    "generate-analytics": ("ai_core.jobs.generate_analytics:generate_analytics", "Rebuild analytics from the ledger."),
    "cleanup-conversations": (
        "ai_core.jobs.cleanup_conversations:cleanup_conversations",
        "Archive (or delete) conversations older than an age.",
    ),
    "expire-holds": (
        "ai_core.budgets.ledger:expire_stale_holds",
        "Close budget holds whose lease ran out (a process died mid-call).",
    ),
}
