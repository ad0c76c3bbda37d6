"""Finish a response: latency, cost (through the cost hooks), and events.

A stream is priced here once, at its end, never per chunk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ai_core.events.types import CostCalculated, CostDisagreement
from ai_core.logging import get_logger
from ai_core.types import ChatResponse, Cost
from ai_core.types.construct import updated

if TYPE_CHECKING:
    from ai_core.pipeline.middleware import Call
    from ai_core.services import Services

__all__ = ["ResponseProcessor"]

log = get_logger("ai_core.costs")


class ResponseProcessor:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._warned: set[tuple[str, str]] = set()

    def price(self, provider: str, model: str, response: ChatResponse, priced_at: datetime) -> Cost:
        price = self.services.prices.price_at(provider, model, priced_at)
        cost: Cost | None = self.services.registry.hook.calculate_cost(
            provider=provider, model=model, usage=response.usage, priced_at=priced_at, price=price
        )
        if cost is None or not cost.known:
            if (provider, model) not in self._warned:
                self._warned.add((provider, model))
                log.warning("unknown_price", provider=provider, model=model, hint="cost recorded as unknown, not zero")
            return cost or Cost.unknown(provider, model)
        return cost

    def finish(
        self, call: Call, response: ChatResponse, started_at: datetime, started: float, now: float
    ) -> ChatResponse:
        """Attach latency and cost (estimating usage the provider did not report), and announce the cost."""
        if response.usage.estimated and not response.usage.total_tokens:
            from ai_core.costs.estimate import estimate_usage

            response = updated(response, usage=estimate_usage(call.request, response.message))
        cost = self.price(response.provider, response.model, response, started_at)
        discount = call.state.get("price_discount")  # (fraction, label): a provider batch's price
        if discount is not None:
            from ai_core.costs.pricing import discounted

            cost = discounted(cost, *discount)
        if response.usage.reported_cost is not None:
            cost = cost.model_copy(update={"reported": response.usage.reported_cost})
            self._compare(response, cost)
        finished = updated(response, cost=cost, latency_ms=(now - started) * 1000.0)
        events = self.services.events
        if events.wants(CostCalculated):
            events.emit(
                CostCalculated(
                    conversation_id=call.conversation_id,
                    provider=response.provider,
                    model=response.model,
                    usage=response.usage,
                    cost=cost.total,
                    currency=cost.currency,
                    user=call.user,
                    tenant=call.tenant,
                    tags=call.tags,
                )
            )
        return finished

    def _compare(self, response: ChatResponse, cost: Cost) -> None:
        """A reported cost beyond the tolerance of the computed one: an event and a log line."""
        reported, computed = cost.reported, cost.total
        if reported is None or computed is None:
            return
        tolerance = self.services.settings.cost_tolerance
        if abs(computed - reported) <= tolerance * max(reported, computed):
            return
        log.warning(
            "cost_disagreement", provider=response.provider, model=response.model, computed=format(computed, "f"),
            reported=format(reported, "f"), priced_by=cost.priced_by, tolerance=format(tolerance, "f"),
        )  # fmt: skip
        events = self.services.events
        if events.wants(CostDisagreement):
            events.emit(CostDisagreement(
                provider=response.provider, model=response.model, computed=computed, reported=reported,
                priced_by=cost.priced_by, tolerance=tolerance,
            ))  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)
