"""One turn of a conversation through the whole pipeline.

    save user turn -> middleware -> provider (retry, fallback) -> cost
    -> tool loop (each model call goes through middleware again)
    -> save response + tool messages in one transaction -> events

Events are emitted, never awaited: the caller has its answer before any
listener runs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ai_core import errors
from ai_core.events.types import ConversationUpdated, MessageSent, ResponseGenerated, ToolCalled
from ai_core.pipeline.middleware import Call, Next, StreamNext
from ai_core.pipeline.processing import ResponseProcessor, utcnow
from ai_core.pipeline.providers import ProviderManager
from ai_core.pipeline.store import TurnContext
from ai_core.types import ChatResponse, Cost, Message, StreamCompleted, StreamEvent

if TYPE_CHECKING:
    from ai_core.pipeline.builder import ConversationBuilder
    from ai_core.pipeline.tools import ToolBox
    from ai_core.services import Services

__all__ = ["TurnRunner", "sum_costs"]


def sum_costs(costs: list[Cost]) -> Cost:
    """Add costs part by part; unknown if any part is unknown (never zero)."""
    if len(costs) == 1:
        return costs[0]
    first = costs[0]
    if any(c.total is None for c in costs):
        return Cost.unknown(first.provider, first.model)
    return Cost(
        total=sum((c.total for c in costs if c.total is not None), Decimal(0)),
        input=sum((c.input for c in costs), Decimal(0)),
        cached_input=sum((c.cached_input for c in costs), Decimal(0)),
        output=sum((c.output for c in costs), Decimal(0)),
        reasoning=sum((c.reasoning for c in costs), Decimal(0)),
        currency=first.currency,
        provider=first.provider,
        model=first.model,
        price_effective_from=first.price_effective_from,
        priced_by=first.priced_by,
    )


class TurnRunner:
    def __init__(
        self, services: Services, providers: ProviderManager, handler: Next, stream_handler: StreamNext
    ) -> None:
        self.services = services
        self.providers = providers
        self.processor = ResponseProcessor(services)
        self.handler = handler
        self.stream_handler = stream_handler

    # -- the innermost layer: the provider call, priced --------------------

    async def endpoint(self, call: Call) -> ChatResponse:
        started_at, started = utcnow(), time.perf_counter()
        response = await self.providers.send(
            call.request,
            overrides=call.state.get("overrides"),
            fallbacks=call.state.get("fallbacks", ()),
            tenant=call.tenant,
            conversation_id=call.conversation_id,
        )
        return self.processor.finish(call, response, started_at, started, time.perf_counter())

    async def stream_endpoint(self, call: Call) -> AsyncIterator[StreamEvent]:
        started_at, started = utcnow(), time.perf_counter()
        completed = False
        async for event in self.providers.stream(
            call.request,
            overrides=call.state.get("overrides"),
            fallbacks=call.state.get("fallbacks", ()),
            tenant=call.tenant,
            conversation_id=call.conversation_id,
        ):
            if isinstance(event, StreamCompleted):
                completed = True
                yield StreamCompleted(
                    self.processor.finish(call, event.response, started_at, started, time.perf_counter())
                )
            else:
                yield event
        if not completed:
            raise errors.StreamInterruptedError("stream ended without a final response", provider=call.request.provider)

    # -- one turn ----------------------------------------------------------

    async def _begin(self, conv: ConversationBuilder) -> tuple[TurnContext, ToolBox]:
        record = await conv._load(self.services.store)
        new = conv._take_pending()
        if not new and not (conv._history and conv._history[-1].role in ("user", "tool")):
            raise errors.RequestValidationError("nothing to send: add a message with .user(...) first")
        provider, model = conv._resolve_model()
        toolbox = await conv._toolbox()
        turn = TurnContext(
            conversation=record,
            new_messages=new,
            provider=provider,
            model=model,
            user=conv._user_id,
            tenant=conv._tenant,
            tags=conv._tags,
        )
        if new:
            await self.services.store.save_user_turn(turn)
        events = self.services.events
        if events.wants(MessageSent):
            events.emit(
                MessageSent(
                    conversation_id=record.id,
                    provider=provider,
                    model=model,
                    user=conv._user_id,
                    tenant=conv._tenant,
                    message_ids=list(turn.message_ids),
                )
            )
        conv._history.extend(new)
        return turn, toolbox

    def _call(
        self, conv: ConversationBuilder, turn: TurnContext, messages: list[Message], toolbox: ToolBox, streaming: bool
    ) -> Call:
        request = conv._request(turn.provider, turn.model, messages, toolbox)
        return Call(
            request=request,
            services=self.services,
            conversation_id=turn.conversation.id,
            user=conv._user_id,
            tenant=conv._tenant,
            tags=conv._tags,
            streaming=streaming,
            state={"overrides": conv._overrides, "fallbacks": conv._fallbacks, "max_cost": conv._max_cost},
        )

    async def _run_requested_tools(
        self,
        conv: ConversationBuilder,
        toolbox: ToolBox,
        response: ChatResponse,
        round_number: int,
        round_messages: list[Message],
    ) -> bool:
        """Run the tools ``response`` asks for and queue the results; False when
        the turn is complete (no tool calls, or only ones the caller must run)."""
        if not toolbox.runnable(response.tool_calls):
            return False
        if round_number == self.services.settings.tool_rounds:
            raise errors.ToolLoopError(f"the model still wanted tools after {round_number} rounds")
        round_messages += [response.message, *await self._run_tools(conv, toolbox, response)]
        return True

    async def _run_tools(self, conv: ConversationBuilder, toolbox: ToolBox, response: ChatResponse) -> list[Message]:
        events = self.services.events
        conversation_id = conv.id

        def emit(tool: str, server: str | None, is_error: bool, duration_ms: float) -> None:
            if events.wants(ToolCalled):
                events.emit(
                    ToolCalled(
                        conversation_id=conversation_id,
                        tool=tool,
                        server=server,
                        is_error=is_error,
                        duration_ms=duration_ms,
                    )
                )

        return await toolbox.run(response.tool_calls, emit)

    async def send(self, conv: ConversationBuilder) -> ChatResponse:
        turn, toolbox = await self._begin(conv)
        started = time.perf_counter()
        round_messages: list[Message] = []
        responses: list[ChatResponse] = []
        try:
            for round_number in range(self.services.settings.tool_rounds + 1):
                call = self._call(conv, turn, [*conv._history, *round_messages], toolbox, streaming=False)
                response = await self.handler(call)
                responses.append(response)
                if not await self._run_requested_tools(conv, toolbox, response, round_number, round_messages):
                    break
            return await self._finish(conv, turn, responses, round_messages, started, streamed=False)
        except BaseException as exc:
            await self._failed(turn, exc)
            raise

    async def stream(self, conv: ConversationBuilder) -> AsyncIterator[StreamEvent]:
        turn, toolbox = await self._begin(conv)
        turn.streamed = True
        started = time.perf_counter()
        round_messages: list[Message] = []
        responses: list[ChatResponse] = []
        try:
            for round_number in range(self.services.settings.tool_rounds + 1):
                call = self._call(conv, turn, [*conv._history, *round_messages], toolbox, streaming=True)
                response: ChatResponse | None = None
                async for event in self.stream_handler(call):
                    if isinstance(event, StreamCompleted):
                        response = event.response
                    else:
                        yield event
                if response is None:
                    raise errors.StreamInterruptedError("stream ended without a final response", provider=turn.provider)
                responses.append(response)
                if not await self._run_requested_tools(conv, toolbox, response, round_number, round_messages):
                    break
            final = await self._finish(conv, turn, responses, round_messages, started, streamed=True)
        except Exception as exc:
            await self._failed(turn, exc)
            raise
        yield StreamCompleted(final)

    async def _failed(self, turn: TurnContext, exc: BaseException) -> None:
        if isinstance(exc, Exception):
            try:
                await self.services.store.save_failure(turn, exc)
            except Exception:  # the original error matters more than the bookkeeping
                pass

    async def _finish(
        self,
        conv: ConversationBuilder,
        turn: TurnContext,
        responses: list[ChatResponse],
        round_messages: list[Message],
        started: float,
        *,
        streamed: bool,
    ) -> ChatResponse:
        last = responses[-1]
        usage = responses[0].usage
        for extra in responses[1:]:
            usage = usage + extra.usage
        costs = [r.cost or Cost.unknown(r.provider, r.model) for r in responses]
        update: dict[str, Any] = {
            "usage": usage,
            "cost": sum_costs(costs),
            "latency_ms": (time.perf_counter() - started) * 1000.0,
            "conversation_id": turn.conversation.id,
        }
        if conv._output_model is not None and not last.tool_calls:
            update["parsed"] = conv._parse_output(last)
        final = last.model_copy(update=update)
        message_id = await self.services.store.save_response(turn, final, extra_messages=round_messages)
        final = final.model_copy(update={"message_id": message_id})
        conv._history.extend([*round_messages, final.message])
        events = self.services.events
        if events.wants(ResponseGenerated):
            events.emit(
                ResponseGenerated(
                    conversation_id=turn.conversation.id,
                    message_id=message_id,
                    provider=final.provider,
                    model=final.model,
                    usage=usage,
                    cost=final.cost.total if final.cost else None,
                    latency_ms=final.latency_ms,
                    finish_reason=final.finish_reason,
                    streamed=streamed,
                    user=conv._user_id,
                    tenant=conv._tenant,
                )
            )
        if events.wants(ConversationUpdated):
            events.emit(ConversationUpdated(conversation_id=turn.conversation.id, message_count=len(conv._history)))
        return final
