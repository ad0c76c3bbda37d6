"""Core's own plugin (entry point ``core``): the defaults other plugins override.

It is loaded like any plugin so that ``ai plugins`` shows where core's default
behaviour comes from, but it is always enabled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ai_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from ai_core.types import Cost, ModelPrice, TokenUsage


@hookimpl(trylast=True)
def calculate_cost(
    provider: str, model: str, usage: TokenUsage, priced_at: datetime, price: ModelPrice | None
) -> Cost | None:
    """The price table: exact Decimal cost, or an explicitly unknown cost."""
    from ai_core.costs import compute_cost
    from ai_core.types import Cost

    if price is None:
        return Cost.unknown(provider, model)
    return compute_cost(usage, price)


@hookimpl
def register_middleware(register: Callable[[Any], None]) -> None:
    """Core's layers. Each is inert unless configured (no budgets, no limits)."""
    from ai_core.budgets.middleware import BudgetMiddleware
    from ai_core.memory.guard import ContextWindowGuard
    from ai_core.security.audit_layer import AuditMiddleware
    from ai_core.security.pii_layer import PIIMiddleware
    from ai_core.security.policy import PolicyMiddleware

    register(BudgetMiddleware())
    # Request security (docs/security.md): each leaves the pipeline unless configured.
    register(AuditMiddleware())
    register(PolicyMiddleware())
    register(PIIMiddleware())
    register(ContextWindowGuard())
    # OpenTelemetry (docs/observability.md): only with the otel extra installed.
    import importlib.util

    if importlib.util.find_spec("opentelemetry") is not None:
        from ai_core.integrations.otel import OTelMiddleware

        register(OTelMiddleware())


@hookimpl
def register_listeners(register: Callable[[Any], None]) -> None:
    """Core's integrations (ai_core.integrations), each bound per AI instance and
    inert unless configured; ``AI_LISTENERS_DISABLED`` turns them off by name."""
    import importlib.util

    from ai_core.events.listener import Listener
    from ai_core.events.types import Event
    from ai_core.integrations.anomaly import CostAnomalyListener
    from ai_core.integrations.base import LazyBindable

    # Imported only by an AI whose settings use them (no SMTP or SQL import when unconfigured).
    webhooks = LazyBindable("ai_core.integrations.webhooks:WebhookListener", lambda s: bool(s.settings.webhooks))
    notifications = LazyBindable(
        "ai_core.integrations.notifications:NotificationListener",
        lambda s: bool(s.settings.notifications.channels and s.settings.notifications.on),
    )
    analytics = LazyBindable("ai_core.integrations.analytics:AnalyticsListener", lambda s: s.database is not None)
    for name, handler in (
        ("webhooks", webhooks),
        ("notifications", notifications),
        ("analytics", analytics),
        ("cost_anomaly", CostAnomalyListener()),
    ):
        register(Listener(events=Event, handler=handler, name=name))
    if importlib.util.find_spec("opentelemetry") is not None:
        from ai_core.integrations.otel import OTelToolListener

        register(Listener(events=Event, handler=OTelToolListener(), name="otel"))
