"""``CostAnomalyListener``: a call costing far more than its user's or model's recent average.

It keeps the last ``AI_COST_ANOMALY_WINDOW`` (50) costs per user and per
provider/model in memory and, once five are known, emits
:class:`~ai_core.events.types.CostAnomalyDetected` for a call costing more than
``AI_COST_ANOMALY_THRESHOLD`` (10) times their average. The user's history is
checked first; unknown costs are skipped. The average is this process's:
anomalies are a signal, the ledger stays the record. It runs when
``AI_COST_ANOMALY_DETECTION=on``, or when a notification (``on = ["cost_anomaly"]``)
or a webhook endpoint asks for the event.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING

from ai_core.events.listener import Listener
from ai_core.events.types import CostAnomalyDetected, CostCalculated
from ai_core.integrations.base import BindableHandler, BoundHandler

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = ["MIN_SAMPLES", "CostAnomalyDetector", "CostAnomalyListener"]

MIN_SAMPLES = 5


class CostAnomalyListener(BindableHandler):
    """Registered by core's plugin as the listener named ``cost_anomaly``."""

    def bind(self, services: Services) -> Listener | None:
        settings = services.settings
        wanted = (
            settings.cost_anomaly_detection
            or ("cost_anomaly" in settings.notifications.on and bool(settings.notifications.channels))
            or any({"*", CostAnomalyDetected.name} & set(endpoint.events) for endpoint in settings.webhooks)
        )
        if not wanted:
            return None
        return Listener(events=CostCalculated, handler=CostAnomalyDetector(services), name="cost_anomaly")


class CostAnomalyDetector(BoundHandler):
    def __init__(self, services: Services) -> None:
        self.services = services
        self.threshold: Decimal = services.settings.cost_anomaly_threshold
        self.window: int = services.settings.cost_anomaly_window
        self._recent: dict[tuple[str, str], deque[Decimal]] = {}

    def __call__(self, event: CostCalculated) -> None:
        cost = event.cost
        if cost is None:
            return
        histories = [("model", f"{event.provider}/{event.model}")]
        if event.user:
            histories.insert(0, ("user", event.user))
        found: CostAnomalyDetected | None = None
        for basis, who in histories:
            recent = self._recent.setdefault((basis, who), deque(maxlen=self.window))
            if found is None and len(recent) >= MIN_SAMPLES:
                average = sum(recent, Decimal(0)) / len(recent)
                if average > 0 and cost > self.threshold * average:
                    found = CostAnomalyDetected(
                        conversation_id=event.conversation_id, provider=event.provider, model=event.model,
                        cost=cost, average=average, ratio=(cost / average).quantize(Decimal("0.01")),
                        threshold=self.threshold, basis=basis, user=event.user, tenant=event.tenant,
                        currency=event.currency,
                    )  # fmt: skip
            recent.append(cost)
        events = self.services.events
        if found is not None and events.wants(CostAnomalyDetected):
            events.emit(found)
