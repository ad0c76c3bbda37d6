"""BudgetMiddleware: refuse before the provider is called, charge after.

Outermost core layer (order 100). Before a call it reserves the request's
worst-case cost against every budget that applies (global, the caller's user,
tenant, tags, conversation) in one atomic step; a hard limit that would be
passed raises :class:`~ai_core.errors.BudgetExceededError` and no provider is
called. After the call it settles the real cost (streams at their end),
releases the hold if the call failed, and emits BudgetThresholdReached once
per threshold and period. A stream abandoned half-way is charged its
reservation: tokens were spent and their cost is unknown, which never counts
as free.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio

from ai_core.budgets.estimate import worst_case_cost
from ai_core.budgets.model import Budget, parse_budgets
from ai_core.errors import BudgetUnknownCostError
from ai_core.logging import get_logger
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.types import ChatRequest, ChatResponse, StreamCompleted, StreamEvent

if TYPE_CHECKING:
    from ai_core.budgets.ledger import BudgetLedger, Hold, ThresholdHit
    from ai_core.services import Services

__all__ = ["BudgetMiddleware"]

log = get_logger("ai_core.budgets")

DEFAULT_MAX_OUTPUT_TOKENS = 4096


class BudgetMiddleware(Middleware):
    name = "budget"
    order = 100

    def __init__(self, budgets: Sequence[Budget] = (), *, default_max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS):
        self.budgets = list(budgets)
        self.default_max_output_tokens = default_max_output_tokens

    # -- which budgets, which ledger ---------------------------------------------

    def budgets_for(self, services: Services) -> list[Budget]:
        """Configured budgets (``settings.budgets``, incl. ``AI(budgets=...)``) plus this layer's own."""
        raw = services.settings.budgets
        cache = services.__dict__.get("_budget_cache")
        if cache is None or cache[0] is not raw:
            cache = (raw, parse_budgets(raw))
            services.__dict__["_budget_cache"] = cache
        return [*cache[1], *self.budgets]

    @staticmethod
    def ledger_for(services: Services) -> BudgetLedger:
        """The database's ledger, or one in memory when persistence is off (one per AI)."""
        ledger = services.__dict__.get("_budget_ledger")
        if ledger is None:
            from ai_core.budgets.ledger import MemoryBudgetLedger, SQLBudgetLedger

            ledger = SQLBudgetLedger(services.database) if services.database is not None else MemoryBudgetLedger()
            services.__dict__["_budget_ledger"] = ledger
        return ledger

    # -- the layer -------------------------------------------------------------------

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        hold = await self._reserve(call)
        if hold is None:
            return await call_next(call)
        try:
            response = await call_next(call)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._close(call, hold, None, release=True)
            raise
        with anyio.CancelScope(shield=True):
            await self._close(call, hold, response, release=False)
        return response

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        return self._stream(call, call_next)

    async def _stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        hold = await self._reserve(call)
        if hold is None:
            async for event in call_next(call):
                yield event
            return
        response: ChatResponse | None = None
        try:
            async for event in call_next(call):
                if isinstance(event, StreamCompleted):
                    response = event.response
                yield event
        except Exception:
            with anyio.CancelScope(shield=True):
                await self._close(call, hold, response, release=response is None)
            raise
        except BaseException:  # abandoned or cancelled mid-stream: charge the hold, never zero
            with anyio.CancelScope(shield=True):
                await self._close(call, hold, response, release=False, unknown_charge_hold=response is None)
            raise
        with anyio.CancelScope(shield=True):
            await self._close(call, hold, response, release=False, unknown_charge_hold=response is None)

    # -- steps -------------------------------------------------------------------------

    async def _reserve(self, call: Call) -> Hold | None:
        budgets = [(b, targets) for b in self.budgets_for(call.services) if (targets := b.targets(call))]
        if not budgets:
            return None  # before any import: with no budget, SQLAlchemy never loads for this layer
        from ai_core.budgets.ledger import Hold, HoldLine
        from ai_core.pipeline.store import new_id
        now = datetime.now(UTC)
        worst = self._worst_case(call, now)
        hold = Hold(call_id=new_id())
        for budget, targets in budgets:
            if worst is None:
                if budget.unknown_cost == "refuse":
                    raise BudgetUnknownCostError(
                        budget.label, call.request.qualified_model, limit=budget.limit, currency=budget.currency
                    )
                assert budget.unknown_cost_amount is not None
                amount = budget.unknown_cost_amount
                log.warning("budget_unknown_cost", budget=budget.label, model=call.request.qualified_model,
                            counted_as=str(amount))
            else:
                amount = worst
            if_unknown = budget.unknown_cost_amount if budget.unknown_cost == "count_as" else amount
            assert if_unknown is not None
            for target in targets:
                hold.lines.append(HoldLine(budget, budget.key(target), budget.period_start(now), amount, if_unknown))
        await self._run(call.services, "reserve", hold)
        call.state["budget_hold"] = hold
        return hold

    def _worst_case(self, call: Call, now: datetime) -> Decimal | None:
        """The highest worst case over the model and its fallbacks; None if any is unpriced."""
        requests = [call.request, *(_retarget(call.request, m) for m in call.state.get("fallbacks", ()) or ())]
        worst: Decimal | None = Decimal(0)
        for request in requests:
            cost = worst_case_cost(request, call.services, now, default_max_output=self.default_max_output_tokens)
            if cost.total is None:
                return None
            worst = max(worst or Decimal(0), cost.total)
        return worst

    async def _close(
        self, call: Call, hold: Hold, response: ChatResponse | None, *, release: bool, unknown_charge_hold: bool = False
    ) -> None:
        try:
            if release:
                await self._run(call.services, "release", hold)
                return
            actual = response.cost.total if response is not None and response.cost is not None else None
            if actual is None and unknown_charge_hold:
                log.warning("budget_stream_abandoned", charged="reservation")
            hits: list[ThresholdHit] = await self._run(call.services, "settle", hold, actual)
        except Exception as exc:  # bookkeeping must not turn a good answer into an error
            log.error("budget_settle_failed", error=f"{type(exc).__name__}: {exc}")
            return
        self._announce(call.services, hits)

    async def _run(self, services: Services, action: str, *args: Any) -> Any:
        ledger = self.ledger_for(services)
        method = getattr(ledger, action)
        if services.database is not None:
            return await services.database.run(method, *args)
        return method(*args)  # memory: a mutex and a few additions, no I/O

    @staticmethod
    def _announce(services: Services, hits: list[ThresholdHit]) -> None:
        if not hits:
            return
        from ai_core.events.types import BudgetThresholdReached

        for hit in hits:
            event = BudgetThresholdReached(
                budget=hit.budget.label,
                scope=f"{hit.budget.scope}:{hit.key.split('|')[1].split('=', 1)[1]}",
                period=hit.budget.period,
                period_start=datetime.combine(hit.period_start, time(), tzinfo=UTC),
                threshold=hit.threshold,
                spent=hit.spent,
                limit=hit.budget.limit,
                currency=hit.budget.currency,
            )
            money = event.model_dump(mode="json", include={"threshold", "spent", "limit"})  # plain digits
            log.warning("budget_threshold_reached", budget=event.budget, **money)
            services.events.emit(event)


def _retarget(request: ChatRequest, model: Any) -> ChatRequest:
    qualified = model if isinstance(model, str) else getattr(model, "model", str(model))
    provider, _, name = str(qualified).partition("/")
    if not name:
        provider, name = request.provider, provider
    return request.model_copy(update={"provider": provider, "model": name})
