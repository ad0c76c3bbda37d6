"""The innermost layer: the provider call, priced and written to the ledger.

:class:`RecordingEndpoint` is what every middleware stack ends in. It calls the
provider (retries and fallbacks are the provider manager's), prices the answer
and records it with :meth:`~ai_core.pipeline.store.ConversationStore.record_call`
the moment it arrives, shielded from cancellation, before anything that can
still fail runs. A stream that fails, is cancelled or is abandoned after it
delivered something is recorded as ``interrupted``, at the usage the provider
reported so far (never less output than was delivered) or an estimate. Failed
attempts before a retry or a fallback are stored too.

The layers around it see ``call.state["recorded_cost"]`` once the call is on
the ledger (the budget layer charges it), and the response carries its
``message_id``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from ai_core import errors
from ai_core.drivers.streaming import UNREPORTED_USAGE, StreamAccumulator
from ai_core.events.types import MessageAdded
from ai_core.logging import get_logger
from ai_core.pipeline.middleware import Call
from ai_core.pipeline.processing import ResponseProcessor, utcnow
from ai_core.pipeline.store import MemoryStore, TurnContext, new_id
from ai_core.shield import shielded
from ai_core.types import (
    ChatResponse,
    Cost,
    Message,
    ReasoningDelta,
    ReasoningPart,
    StreamCompleted,
    StreamEvent,
    TextDelta,
    TextPart,
    TokenUsage,
    ToolCallDelta,
    UsageReported,
)
from ai_core.types.construct import updated

if TYPE_CHECKING:
    from ai_core.pipeline.providers import ProviderManager
    from ai_core.services import Services

__all__ = ["RecordingEndpoint"]

log = get_logger("ai_core.ledger")


class RecordingEndpoint:
    def __init__(self, services: Services, providers: ProviderManager) -> None:
        self.services = services
        self.providers = providers
        self.processor = ResponseProcessor(services)

    async def send(self, call: Call) -> ChatResponse:
        started_at, started = utcnow(), time.perf_counter()
        failures: list[tuple[str, str, BaseException]] = []
        try:
            response = await self.providers.send(call.request, **_routing(call), failures=failures)
        except BaseException:
            await self._save_attempts(call, failures[:-1])
            raise
        priced = self.processor.finish(call, response, started_at, started, time.perf_counter())
        recorded = await self._record(call, priced, "answered")  # the money first
        await self._save_attempts(call, failures)
        return recorded

    async def stream(self, call: Call) -> AsyncIterator[StreamEvent]:
        started_at, started = utcnow(), time.perf_counter()
        failures: list[tuple[str, str, BaseException]] = []
        delivered = StreamAccumulator(call.request.provider, call.request.model)
        completed = False
        try:
            events = cast(
                AsyncGenerator[StreamEvent, None],
                self.providers.stream(call.request, **_routing(call), failures=failures),
            )
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, StreamCompleted):
                        completed = True
                        priced = self.processor.finish(call, event.response, started_at, started, time.perf_counter())
                        yield StreamCompleted(await self._record(call, priced, "answered"))
                    else:
                        _collect(delivered, event)
                        yield event
            if not completed:
                raise errors.StreamInterruptedError(
                    "stream ended without a final response", provider=call.request.provider
                )
        except BaseException:
            await shielded(self._save_attempts, call, failures[:-1])
            if not completed and not delivered.empty:
                await shielded(self._record_interrupted, call, delivered, started_at, started)
            raise
        await self._save_attempts(call, failures)

    async def _record(self, call: Call, response: ChatResponse, outcome: str) -> ChatResponse:
        """Write the call to the ledger, shielded: an answer that arrived is
        recorded even when the caller is cancelled meanwhile."""
        call.state["recorded_cost"] = response.cost or Cost.unknown(response.provider, response.model)
        turn: TurnContext = call.state["turn"]
        hold = call.state.get("budget_hold")
        call_id = getattr(hold, "call_id", None) or call.state.setdefault("call_id", new_id())
        update: dict[str, Any] = {"conversation_id": turn.conversation.id}
        capped = call.state.get("budget_capped_max_tokens")
        if capped is not None:
            update["capped_max_tokens"] = capped
        stored = response
        for stored_form in call.state.get("store_filters", ()):  # e.g. the PII layer's redaction
            stored = stored_form(stored)
        try:
            store = self.services.store
            if isinstance(store, MemoryStore):  # no I/O: nothing a cancellation could cut in half
                update["message_id"] = await store.record_call(turn, stored, outcome=outcome, call_id=call_id)
            else:
                update["message_id"] = await shielded(store.record_call, turn, stored, outcome=outcome, call_id=call_id)
        except Exception as exc:
            log.error(
                "ledger_write_failed",
                provider=response.provider,
                model=response.model,
                cost=str(response.cost.total) if response.cost else None,
                error=f"{type(exc).__name__}: {exc}",
            )
            raise errors.LedgerWriteError(
                f"the provider answered but the call could not be recorded: {type(exc).__name__}: {exc}",
                response=updated(response, **update),
            ) from exc
        events = self.services.events
        if events.wants(MessageAdded):
            events.emit(
                MessageAdded(
                    conversation_id=turn.conversation.id,
                    message_id=update["message_id"],
                    role="assistant",
                    provider=response.provider,
                    model=response.model,
                    usage=response.usage,
                    cost=response.cost.total if response.cost else None,
                    outcome=outcome,
                    user=call.user,
                    tenant=call.tenant,
                )
            )
        return updated(response, **update)

    async def _record_interrupted(
        self, call: Call, delivered: StreamAccumulator, started_at: Any, started: float
    ) -> None:
        """A stream that failed or was abandoned after delivering something was
        paid for: record what arrived, priced at the reported usage or an estimate."""
        parts: list[Any] = []
        if delivered.reasoning:
            parts.append(ReasoningPart(text=delivered.reasoning))
        parts.append(TextPart(text=delivered.text))
        message = Message(role="assistant", parts=parts)
        response = ChatResponse(
            provider=call.request.provider,
            model=call.request.model,
            message=message,
            finish_reason="error",
            usage=_interrupted_usage(call, delivered, message),
        )
        priced = self.processor.finish(call, response, started_at, started, time.perf_counter())
        try:
            await self._record(call, priced, "interrupted")
        except errors.LedgerWriteError:
            pass  # logged; the stream's own error is what the caller must see
        log.warning(
            "stream_interrupted_recorded",
            provider=priced.provider,
            model=priced.model,
            estimated=priced.usage.estimated,
            cost=str(priced.cost.total) if priced.cost else None,
        )

    async def _save_attempts(self, call: Call, attempts: Sequence[tuple[str, str, BaseException]]) -> None:
        if not attempts:
            return
        try:
            await shielded(self.services.store.save_failed_attempts, call.state["turn"], attempts)
        except Exception as exc:  # the call's own outcome matters more than this bookkeeping
            log.error("failed_attempts_not_recorded", error=f"{type(exc).__name__}: {exc}")


def _routing(call: Call) -> dict[str, Any]:
    """What the provider manager needs besides the request: overrides, fallbacks, who asks."""
    return {
        "overrides": call.state.get("overrides"),
        "fallbacks": call.state.get("fallbacks", ()),
        "tenant": call.tenant,
        "conversation_id": call.conversation_id,
        "user": call.user,
    }


def _interrupted_usage(call: Call, delivered: StreamAccumulator, message: Message) -> TokenUsage:
    """What a cut stream consumed: the usage reported so far, but never less output
    than the delivered text (a provider may report the prompt first and the output
    only at the end); an estimate when nothing was reported."""
    reported = delivered.usage
    if reported is None:
        return UNREPORTED_USAGE
    from ai_core.costs.estimate import estimate_usage

    floor = estimate_usage(call.request, message).output_tokens
    if reported.output_tokens >= floor:
        return reported
    return reported.model_copy(
        update={"output_tokens": floor, "total_tokens": reported.input_tokens + floor, "estimated": True}
    )


def _collect(delivered: StreamAccumulator, event: StreamEvent) -> None:
    if isinstance(event, TextDelta):
        delivered.add_text(event.text)
    elif isinstance(event, ReasoningDelta):
        delivered.add_reasoning(event.text)
    elif isinstance(event, ToolCallDelta):
        delivered.add_tool_delta(event)
    elif isinstance(event, UsageReported):
        delivered.usage = event.usage
