"""BudgetMiddleware: refuse or cap before the provider is called, charge after.

Outermost core layer (order 100). Before a call it works out the request's
worst case (:mod:`ai_core.budgets.estimate`) and:

* applies the per-request caps (``.max_cost()`` on the conversation, a
  budget's ``per_request``): a call that could cost more is capped or refused;
* holds the worst case against every budget that applies (global, the
  caller's user, tenant, tags, conversation) in one atomic step; a hard limit
  that would be passed shrinks the call to the room left or refuses it with
  :class:`~ai_core.errors.BudgetExceededError`, naming the tightest budget.

"Capped" means a ``max_tokens`` is sent: where a hard limit or cap applies and
the request set no output limit, the layer always sends one (the model's own
maximum when the budget allows it, less when it does not), so the reserved
worst case is a real bound. ``call.state["budget_capped_max_tokens"]`` says
when that limit is below what the model could otherwise have written.

After the call it charges what the call cost: the cost the runner recorded in
the message ledger (``call.state["recorded_cost"]``) when there is one (also
for a call that failed after its answer was recorded, and for a stream cut
after text was delivered), else the response's cost; a call that failed before
any answer is released; a stream abandoned with nothing recorded is charged
its hold (tokens were spent and their cost is unknown, which never counts as
free). It emits BudgetThresholdReached once per threshold and period, and
BudgetOvershoot (with a ``budget_overshoot`` log line) when a provider ran
past ``max_tokens`` and pushed a hard budget over its limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ai_core.budgets.model import Budget, parse_budgets
from ai_core.errors import BudgetExceededError, BudgetUnknownCostError, _money
from ai_core.logging import get_logger
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.shield import shielded
from ai_core.types import ChatRequest, ChatResponse, Cost, StreamCompleted, StreamEvent

if TYPE_CHECKING:
    from ai_core.budgets.estimate import WorstCase
    from ai_core.budgets.ledger import BudgetLedger, Hold, LedgerReport
    from ai_core.services import Services

__all__ = ["DEFAULT_MAX_OUTPUT_TOKENS", "BudgetMiddleware"]

log = get_logger("ai_core.budgets")

DEFAULT_MAX_OUTPUT_TOKENS = 4096
"""The output bound of a model whose maximum is not known (and the ``max_tokens`` sent for it)."""


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
        call, hold = await self._admit(call)
        if hold is None:
            return await call_next(call)
        try:
            response = await call_next(call)
        except BaseException:
            await self._shielded(call, self._close, call, hold, None)
            raise
        await self._shielded(call, self._close, call, hold, response)
        return response

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        return self._stream(call, call_next)

    async def _stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        call, hold = await self._admit(call)
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
            await self._shielded(call, self._close, call, hold, response)
            raise
        except BaseException:  # abandoned or cancelled mid-stream: never free
            await self._shielded(call, self._close, call, hold, response, abandoned=True)
            raise
        await self._shielded(call, self._close, call, hold, response, abandoned=True)

    # -- admission ---------------------------------------------------------------------

    async def _admit(self, call: Call) -> tuple[Call, Hold | None]:
        """Apply the caps and hold the worst case; the call to make (maybe with a
        ``max_tokens`` chosen here) and its hold (None when no budget applies)."""
        max_cost: Decimal | None = call.state.get("max_cost")
        applicable = [(b, targets) for b in self.budgets_for(call.services) if (targets := b.targets(call))]
        if not applicable and max_cost is None:
            return call, None  # before any import: with no budget, SQLAlchemy never loads for this layer
        now = datetime.now(UTC)
        worst = self._worst_case(call, now)
        worst = self._per_request(call, worst, applicable, max_cost)
        amount = worst.amount
        hard = max_cost is not None or any(b.hard or b.per_request is not None for b, _ in applicable)
        hold = None
        if applicable:
            hold = self._hold(call, worst, applicable)
            lease = call.services.settings.budget_hold_lease
            try:
                report = await self._shielded(call, self._run, call.services, "reserve", hold, lease=lease)
            except BaseException as exc:
                if not isinstance(exc, Exception):  # cancelled as the hold was written: the call is off
                    await self._shielded(call, self._run, call.services, "release", hold)
                raise  # or refused: nothing was held
            self._announce(call, report)
            call.state["budget_hold"] = hold
        if hard and amount is not None and not worst.explicit:
            output = hold.output_tokens if hold is not None and hold.output_tokens else worst.output_tokens
            call = call.with_request(call.request.model_copy(update={"max_tokens": output}))
            model_max = worst.model_max
            if model_max is None or output < model_max:
                call.state["budget_capped_max_tokens"] = output
        return call, hold

    def _worst_case(self, call: Call, now: datetime) -> WorstCase:
        """The worst case over the model and its fallbacks (unpriced if any is)."""
        from ai_core.budgets.estimate import worst_case

        fallbacks = [_retarget(call.request, m) for m in call.state.get("fallbacks", ()) or ()]
        return worst_case(
            call.request, call.services, now, default_max_output=self.default_max_output_tokens, fallbacks=fallbacks
        )

    def _per_request(
        self, call: Call, worst: WorstCase, applicable: list[tuple[Budget, list[str]]], max_cost: Decimal | None
    ) -> WorstCase:
        """Cap ``worst`` at the tightest per-request limit, or refuse."""
        caps = [(f"{b.label} (per request)", b.per_request, b.currency) for b, _ in applicable if b.per_request]
        if max_cost is not None:
            currency = applicable[0][0].currency if applicable else "USD"
            caps.append(("max_cost", max_cost, currency))
        if not caps:
            return worst
        label, limit, currency = min(caps, key=lambda cap: cap[1])
        amount = worst.amount
        if amount is None:
            if max_cost is not None:
                raise BudgetUnknownCostError("max_cost", call.request.qualified_model, limit=max_cost)
            return worst  # each budget's unknown_cost rule decides, in _hold
        if amount <= limit:
            return worst
        fitted = None if worst.explicit else worst.fit(limit)
        if fitted is None:
            minimum = not worst.explicit and worst.minimum is not None
            requested = worst.minimum if minimum and worst.minimum is not None else amount
            raise BudgetExceededError(
                label, limit=limit, spent=Decimal(0), requested=requested, currency=currency, minimum=minimum
            )
        return worst.capped(fitted[0])

    def _hold(self, call: Call, worst: WorstCase, applicable: list[tuple[Budget, list[str]]]) -> Hold:
        from ai_core.budgets.ledger import Hold, HoldLine
        from ai_core.pipeline.store import new_id

        amount = worst.amount
        now = worst.when
        hold = Hold(call_id=new_id())
        for budget, targets in applicable:
            if amount is None:
                if budget.unknown_cost == "refuse":
                    raise BudgetUnknownCostError(
                        budget.label, call.request.qualified_model, limit=budget.limit, currency=budget.currency
                    )
                assert budget.unknown_cost_amount is not None
                line_amount = budget.unknown_cost_amount
                if budget.per_request is not None and line_amount > budget.per_request:
                    raise BudgetExceededError(
                        f"{budget.label} (per request)",
                        limit=budget.per_request,
                        spent=Decimal(0),
                        requested=line_amount,
                        currency=budget.currency,
                    )
                log.warning(
                    "budget_unknown_cost",
                    budget=budget.label,
                    model=call.request.qualified_model,
                    counted_as=_money(line_amount),
                )
            else:
                line_amount = amount
            if_unknown = budget.unknown_cost_amount if budget.unknown_cost == "count_as" else line_amount
            assert if_unknown is not None
            for target in targets:
                hold.lines.append(
                    HoldLine(budget, budget.key(target), budget.period_start(now), line_amount, if_unknown)
                )
        if amount is not None and not worst.explicit:
            hold.fit = worst.fit
            hold.minimum = worst.minimum
        return hold

    # -- closing -----------------------------------------------------------------------

    async def _close(self, call: Call, hold: Hold, response: ChatResponse | None, *, abandoned: bool = False) -> None:
        """Charge what the call cost, or release its hold if it cost nothing."""
        recorded: Cost | None = call.state.get("recorded_cost")
        try:
            if recorded is not None:
                actual = recorded.total  # what the message ledger holds for this call
            elif response is not None:
                actual = response.cost.total if response.cost is not None else None
            elif abandoned:
                actual = None  # charged the hold: tokens were spent, their cost is unknown
                log.warning("budget_stream_abandoned", charged="hold")
            else:
                await self._run(call.services, "release", hold)
                return
            report: LedgerReport = await self._run(call.services, "settle", hold, actual)
        except Exception as exc:  # bookkeeping must not turn a good answer into an error
            log.error("budget_settle_failed", error=f"{type(exc).__name__}: {exc}")
            return
        self._announce(call, report)

    @staticmethod
    async def _shielded(call: Call, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ledger work to its end even if the call is cancelled meanwhile (a hold
        written must be released; a charge must land); in memory there is no I/O to
        interrupt, so no task of its own is needed."""
        if call.services.database is None:
            return await fn(*args, **kwargs)
        return await shielded(fn, *args, **kwargs)

    async def _run(self, services: Services, action: str, *args: Any, **kwargs: Any) -> Any:
        ledger = self.ledger_for(services)
        if services.database is not None:  # in a write job: on SQLite, in the store's group commit
            job = getattr(ledger, f"{action}_in")
            return await services.database.write_job(lambda tx: job(tx, *args, **kwargs))
        return getattr(ledger, action)(*args, **kwargs)  # memory: a mutex and a few additions, no I/O

    @staticmethod
    def _announce(call: Call, report: LedgerReport) -> None:
        if not report:
            return
        from ai_core.events.types import BudgetOvershoot, BudgetThresholdReached

        services = call.services
        for hit in report.hits:
            event = BudgetThresholdReached(
                budget=hit.budget.label,
                scope=_scope(hit.budget, hit.key),
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
        for over in report.overshoots:
            overshoot = BudgetOvershoot(
                budget=over.budget.label,
                scope=_scope(over.budget, over.key),
                period=over.budget.period,
                period_start=datetime.combine(over.period_start, time(), tzinfo=UTC),
                limit=over.budget.limit,
                spent=over.spent,
                over_by=over.over_by,
                charged=over.charged,
                held=over.held,
                late=over.late,
                currency=over.budget.currency,
                conversation_id=call.conversation_id if over.call_id == _call_id(call) else None,
            )
            money = overshoot.model_dump(mode="json", include={"limit", "spent", "over_by", "charged", "held"})
            log.warning(
                "budget_overshoot",
                budget=overshoot.budget,
                scope=overshoot.scope,
                late=over.late,
                model=call.request.qualified_model,
                **money,
            )
            services.events.emit(overshoot)


def _call_id(call: Call) -> str | None:
    hold = call.state.get("budget_hold")
    return getattr(hold, "call_id", None)


def _scope(budget: Budget, key: str) -> str:
    return f"{budget.scope}:{key.split('|')[1].split('=', 1)[1]}"


def _retarget(request: ChatRequest, model: Any) -> ChatRequest:
    qualified = model if isinstance(model, str) else getattr(model, "model", str(model))
    provider, _, name = str(qualified).partition("/")
    if not name:
        provider, name = request.provider, provider
    return request.model_copy(update={"provider": provider, "model": name})
