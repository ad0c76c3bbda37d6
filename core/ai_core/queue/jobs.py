"""The design's maintenance jobs by name, as a worker (or an in-process scheduler) runs them.

Each returns a one-line summary. Every job is safe to run twice (they rebuild
or price what is missing), so a message redelivered after a crash is harmless.
``cleanup-conversations`` runs only when ``conversation_retention_days`` is set:
a schedule never archives anything nobody asked to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Literal

    from ai_core.app import AI

__all__ = ["run_job"]


def run_job(ai: AI, name: str) -> str:
    """Run job ``name`` with ``ai``'s services; return what it did, in one line.

    :raises LookupError: there is no job called ``name``.
    """
    services = ai.services
    if name == "sync-models":
        import anyio

        from ai_core.jobs.sync_models import sync_models

        async def sync() -> list:
            return await sync_models(services, providers=ai.providers)

        results = anyio.run(sync)
        return ", ".join(f"{r.provider}: {r.models} models, {r.prices} prices" for r in results) or "no providers"
    if name == "calculate-costs":
        from ai_core.jobs.calculate_costs import calculate_costs

        return f"priced {calculate_costs(services)} response(s)"
    if name == "generate-analytics":
        from ai_core.jobs.generate_analytics import generate_analytics

        counts = generate_analytics(services.database)
        return ", ".join(f"{table}: {count} rows" for table, count in counts.items())
    if name == "cleanup-conversations":
        from ai_core.jobs.cleanup_conversations import cleanup_conversations

        days = services.settings.conversation_retention_days
        if days is None:
            return "skipped: conversation_retention_days is not set"
        action = cast("Literal['archive', 'delete']", services.settings.cleanup_action)
        count = cleanup_conversations(services.database, older_than_days=days, action=action)
        return f"{action}d {count} conversation(s) older than {days} days"
    if name == "expire-holds":
        from ai_core.budgets.ledger import expire_stale_holds

        if services.database is None:
            return "skipped: no database (budgets are per process)"
        closed = expire_stale_holds(services.database, lease=services.settings.budget_hold_lease)
        return f"closed {closed} budget hold(s) whose lease ran out"
    raise LookupError(f"unknown job {name!r}")
