"""One turn of a conversation through the whole pipeline, ledger first.

    save user turn -> middleware -> provider (retry, fallback) -> price
    -> RECORD the call (message, usage, cost, totals: one transaction; see endpoint.py)
    -> tool loop (each model call goes through middleware again and is recorded)
    -> parse structured output -> events

A call the provider answered is in the ledger before anything that can still
fail runs: parsing, tools, the next round, a budget settlement, the caller's
loop. What then goes wrong only changes the row's ``outcome``
(``parse_failed``, ``tool_round_limit``); a stream cut after text was
delivered is recorded as ``interrupted`` with the usage the provider reported,
or an estimate. Events are emitted, never awaited.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ai_core import errors
from ai_core.events.types import (
    ConversationCreated,
    ConversationUpdated,
    MessageAdded,
    MessageSent,
    ProviderSwitched,
    ResponseGenerated,
)
from ai_core.mcp.resume import has_unanswered_calls, refuse_if_pending
from ai_core.pipeline.callbacks import BeforeSend, run_callbacks, run_error_callbacks
from ai_core.pipeline.endpoint import RecordingEndpoint
from ai_core.pipeline.lifecycle import check_lifecycle
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext, compose, compose_stream, order_layers
from ai_core.pipeline.providers import ProviderManager
from ai_core.pipeline.store import TurnContext
from ai_core.pipeline.tools import ToolBox
from ai_core.shield import shielded
from ai_core.types import ChatResponse, Cost, Message, StreamCompleted, StreamEvent
from ai_core.types.construct import updated

if TYPE_CHECKING:
    from ai_core.pipeline.builder import ConversationBuilder
    from ai_core.services import Services

__all__ = ["TurnRunner", "sum_costs"]


_MAX_NAME = 255
_MAX_PROVIDER = 64
_NO_TOOLS = ToolBox()
"""The toolbox of every turn without tools (none is ever added to it: a turn with tools makes its own)."""


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


class _Stack(NamedTuple):
    """A composed middleware stack."""

    send: Next
    stream: StreamNext
    rewriting: tuple[Middleware, ...]
    """Its layers whose ``rewrite`` gives the stored form of a turn's new messages, in order."""


def _stack(ordered: Sequence[Middleware], endpoint: RecordingEndpoint) -> _Stack:
    return _Stack(
        compose(ordered, endpoint.send),
        compose_stream(ordered, endpoint.stream),
        tuple(layer for layer in ordered if layer.stores_rewrite),
    )


class TurnRunner:
    def __init__(self, services: Services, providers: ProviderManager, layers: Sequence[Middleware] = ()) -> None:
        self.services = services
        self.providers = providers
        self.endpoint = RecordingEndpoint(services, providers)
        self.layers = list(layers)
        # Composed once per instance; a conversation with its own layers composes its own.
        self._default = _stack(order_layers(self.layers), self.endpoint)
        self._cached: _Stack | None = None
        self._stacks: dict[Any, tuple[tuple[Middleware, ...], _Stack]] = {}

    def _with_cache(self, layers: list[Middleware]) -> list[Middleware]:
        """``layers`` and the response-cache layer, for a conversation that asked ``.cache()``."""
        if any(layer.name == "response_cache" for layer in layers):
            return layers
        return [*layers, self.providers.scale.response_layer()]

    def stack(self, conv: ConversationBuilder) -> _Stack:
        """The middleware stack for ``conv``: the instance's, less the layers it
        skips, plus its own (its ``before_send`` callbacks innermost), plus the
        response cache when it asked for it."""
        if not (conv._layers or conv._skipped or conv._before_send):
            if conv._cache is None:
                return self._default
            if self._cached is None:
                self._cached = _stack(order_layers(self._with_cache(self.layers)), self.endpoint)
            return self._cached
        # Conversations that add the same layer objects reuse one composed stack instead
        # of composing it on every call. The ids name the layers: the entry keeps them
        # alive, so no other object has them. (The same skipped names listed in another
        # order only compose another entry.)
        key = None if conv._before_send else (conv._cache is None, *map(id, conv._layers), None, *conv._skipped)
        found = self._stacks.get(key) if key is not None else None
        if found is not None:
            return found[1]
        layers = [layer for layer in self.layers if layer.name not in conv._skipped]
        layers += conv._layers
        if conv._cache is not None:
            layers = self._with_cache(layers)
        if conv._before_send:
            layers.append(BeforeSend(conv._before_send))
        stack = _stack(order_layers(layers), self.endpoint)
        if key is not None:
            if len(self._stacks) >= 64:
                self._stacks.clear()
            self._stacks[key] = (tuple(conv._layers), stack)
        return stack

    # -- one turn ----------------------------------------------------------

    async def _begin(self, conv: ConversationBuilder, stack: _Stack) -> tuple[TurnContext, ToolBox]:
        created = not conv._loaded and not conv._resume
        if conv._resume:
            _check_lengths(conv)  # before the user and tenant go into the store's query
            record = await conv._load(self.services.store)
        else:
            record = conv._loaded_record()
        provider, model = conv._resolve_model()
        _check_lengths(conv, provider, model)
        check_lifecycle(self.services.registry, provider, model)  # a shut-down model: refused before sending
        if has_unanswered_calls(conv):
            await refuse_if_pending(conv)  # deferred tool calls await approve()/deny()
        new = conv._take_pending()
        if not new and not (conv._history and conv._history[-1].role in ("user", "tool")):
            raise errors.RequestValidationError("nothing to send: add a message with .user(...) first")
        toolbox = await conv._toolbox() if conv._offers_tools() else _NO_TOOLS
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
            if stack.rewriting:
                turn.new_messages = new = await self._stored_form(conv, stack, provider, model, new, toolbox)
            await self.services.store.save_user_turn(turn)
        events = self.services.events
        if created and events.wants(ConversationCreated):
            events.emit(
                ConversationCreated(conversation_id=record.id, user=conv._user_id, tenant=conv._tenant, tags=conv._tags)
            )
        if new:
            _messages_added(self.services, turn, new, list(turn.message_ids))
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
        previous = conv._last_model or ((record.provider, record.model) if record.provider else None)
        if previous is not None and previous[0] != provider and events.wants(ProviderSwitched):
            events.emit(
                ProviderSwitched(
                    from_model=f"{previous[0]}/{previous[1]}",
                    to_model=f"{provider}/{model}",
                    reason="the conversation switched to another provider",
                )
            )
        conv._history.extend(new)
        return turn, toolbox

    async def _stored_form(
        self, conv: ConversationBuilder, stack: _Stack, provider: str, model: str, new: list[Message], toolbox: ToolBox
    ) -> list[Message]:
        """The turn's new messages as the stack's layers with ``stores_rewrite`` leave them."""
        call = Call(
            request=conv._request(provider, model, [*conv._history, *new], toolbox),
            services=self.services,
            conversation_id=conv.id,
            user=conv._user_id,
            tenant=conv._tenant,
            tags=conv._tags,
        )
        for layer in stack.rewriting:
            call = await layer.rewrite(call)
        rewritten = call.request.messages
        return list(rewritten[len(rewritten) - len(new) :]) if len(rewritten) >= len(new) else new

    def _call(self, conv: ConversationBuilder, turn: TurnContext, toolbox: ToolBox, streaming: bool) -> Call:
        request = conv._request(turn.provider, turn.model, conv._history, toolbox)  # validation copies the list
        return Call(
            request=request,
            services=self.services,
            conversation_id=turn.conversation.id,
            user=conv._user_id,
            tenant=conv._tenant,
            tags=conv._tags,
            streaming=streaming,
            state={
                "cache": conv._cache,
                "overrides": conv._overrides,
                "fallbacks": conv._fallbacks,
                "max_cost": conv._max_cost,
                "turn": turn,
            },
        )

    async def _answered(self, conv: ConversationBuilder, turn: TurnContext, response: ChatResponse) -> ChatResponse:
        """Take a model call's answer into the conversation. The endpoint has
        recorded it; an answer a middleware made up without the provider (no
        ledger row) is stored as a plain message, since nothing was paid."""
        if response.message_id is None:
            ids = await self.services.store.save_messages(turn, [response.message])
            _messages_added(self.services, turn, [response.message], ids)
            response = updated(response, message_id=ids[0], conversation_id=turn.conversation.id)
        conv._history.append(response.message)
        conv._last_model = (response.provider, response.model)
        return response

    async def _run_requested_tools(
        self, conv: ConversationBuilder, turn: TurnContext, toolbox: ToolBox, response: ChatResponse, round_number: int
    ) -> bool:
        """Run the tools ``response`` asks for (all of them ``toolbox.runnable``) and store
        their results; False when the turn ends here (a call was deferred)."""
        store = self.services.store
        if round_number == self.services.settings.tool_rounds:
            limit = self.services.settings.tool_rounds
            assert response.message_id is not None
            await shielded(store.set_outcome, turn, response.message_id, "tool_round_limit")
            # Answer every call, so the stored conversation stays valid to send again.
            await self._append(
                conv,
                turn,
                [
                    Message.tool_result(
                        call.id,
                        f"not run: this turn reached its limit of {limit} tool rounds",
                        name=call.name,
                        is_error=True,
                    )
                    for call in response.tool_calls
                ],
            )
            raise errors.ToolLoopError(f"the model still wanted tools after {round_number} rounds")
        try:
            run = await toolbox.run(response.tool_calls, conv._run_context())
        except BaseException:  # cancelled mid-tools: store every call's answer, then stop
            if toolbox.interrupted is not None:
                await self._append(conv, turn, toolbox.interrupted.results)
            raise
        await self._append(conv, turn, run.results)
        if run.deferred:  # the turn ends here; conversation.approve()/deny() continue it
            await shielded(conv._ai._mcp_pending.add, run.deferred)
            return False
        return True

    async def _append(self, conv: ConversationBuilder, turn: TurnContext, messages: list[Message]) -> None:
        ids = await shielded(self.services.store.save_messages, turn, messages)
        _messages_added(self.services, turn, messages, ids)
        conv._history.extend(messages)

    async def send(self, conv: ConversationBuilder) -> ChatResponse:
        stack = self.stack(conv)
        try:
            turn, toolbox = await self._begin(conv, stack)
        except Exception as exc:
            await run_error_callbacks(conv._on_error, exc)
            raise
        started = time.perf_counter()
        responses: list[ChatResponse] = []
        try:
            for round_number in range(self.services.settings.tool_rounds + 1):
                call = self._call(conv, turn, toolbox, streaming=False)
                response = await self._answered(conv, turn, await stack.send(call))
                responses.append(response)
                if not (toolbox.runs_tools and toolbox.runnable(response.tool_calls)):
                    break
                if not await self._run_requested_tools(conv, turn, toolbox, response, round_number):
                    break
            final = await self._finish(conv, turn, responses, started, streamed=False)
        except BaseException as exc:
            await self._failed(turn, exc)
            if isinstance(exc, Exception):
                await run_error_callbacks(conv._on_error, exc)
            raise
        if conv._on_success:
            await run_callbacks(conv._on_success, final)
        return final

    async def stream(self, conv: ConversationBuilder) -> AsyncIterator[StreamEvent]:
        stack = self.stack(conv)
        try:
            turn, toolbox = await self._begin(conv, stack)
        except Exception as exc:
            await run_error_callbacks(conv._on_error, exc)
            raise
        turn.streamed = True
        started = time.perf_counter()
        responses: list[ChatResponse] = []
        try:
            for round_number in range(self.services.settings.tool_rounds + 1):
                call = self._call(conv, turn, toolbox, streaming=True)
                response: ChatResponse | None = None
                # Closed here, not when collected: an abandoned stream's layers
                # (the ledger's record of what was delivered) finish before we return.
                events = cast(AsyncGenerator[StreamEvent, None], stack.stream(call))
                async with aclosing(events):
                    async for event in events:
                        if isinstance(event, StreamCompleted):
                            response = event.response
                        else:
                            yield event
                if response is None:
                    raise errors.StreamInterruptedError("stream ended without a final response", provider=turn.provider)
                response = await self._answered(conv, turn, response)
                responses.append(response)
                if not (toolbox.runs_tools and toolbox.runnable(response.tool_calls)):
                    break
                if not await self._run_requested_tools(conv, turn, toolbox, response, round_number):
                    break
            final = await self._finish(conv, turn, responses, started, streamed=True)
        except BaseException as exc:
            await self._failed(turn, exc)
            if isinstance(exc, Exception):
                await run_error_callbacks(conv._on_error, exc)
            raise
        if conv._on_success:
            await run_callbacks(conv._on_success, final)
        yield StreamCompleted(final)

    async def _failed(self, turn: TurnContext, exc: BaseException) -> None:
        store = self.services.store
        try:
            if isinstance(exc, Exception) and not isinstance(exc, errors.LedgerWriteError):
                await shielded(store.save_failure, turn, exc)
            else:  # cancelled (Ctrl-C, a timeout around the call): the user's messages still count
                await shielded(store.flush, turn)
        except Exception:  # the original error matters more than the bookkeeping
            return
        events = self.services.events
        if events.wants(ConversationUpdated):  # the failed turn's rows are written: listeners may read them
            events.emit(ConversationUpdated(conversation_id=turn.conversation.id))

    async def _finish(
        self,
        conv: ConversationBuilder,
        turn: TurnContext,
        responses: list[ChatResponse],
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
            try:
                update["parsed"] = conv._parse_output(last)
            except errors.MalformedResponseError:
                if last.message_id is not None:
                    await shielded(self.services.store.set_outcome, turn, last.message_id, "parse_failed")
                raise
        final = updated(last, **update)
        events = self.services.events
        if events.wants(ResponseGenerated):
            events.emit(
                ResponseGenerated(
                    conversation_id=turn.conversation.id,
                    message_id=final.message_id or "",
                    provider=final.provider,
                    model=final.model,
                    usage=usage,
                    cost=final.cost,
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


def _messages_added(services: Services, turn: TurnContext, messages: Sequence[Message], ids: Sequence[str]) -> None:
    """One :class:`MessageAdded` per message that cost nothing (the user's, a tool's result)."""
    events = services.events
    if not events.wants(MessageAdded):
        return
    for message, message_id in zip(messages, ids, strict=False):
        events.emit(
            MessageAdded(
                conversation_id=turn.conversation.id,
                message_id=message_id,
                role=message.role,
                user=turn.user,
                tenant=turn.tenant,
            )
        )


def _check_lengths(conv: ConversationBuilder, provider: str | None = None, model: str | None = None) -> None:
    """Names longer than their columns are refused before any call, not by the database after it."""
    user, tenant, tags = conv._user_id, conv._tenant, conv._tags
    if (
        (provider is None or len(provider) <= _MAX_PROVIDER)
        and (model is None or len(model) <= _MAX_NAME)
        and (user is None or len(user) <= _MAX_NAME)
        and (tenant is None or len(tenant) <= _MAX_NAME)
        and not any(len(tag) > _MAX_NAME for tag in tags)
    ):
        return  # the rest names the field that is too long
    fields: list[tuple[str, str | None, int]] = [
        ("provider", provider, _MAX_PROVIDER),
        ("model", model, _MAX_NAME),
        ("user", user, _MAX_NAME),
        ("tenant", tenant, _MAX_NAME),
        *(("tag", tag, _MAX_NAME) for tag in tags),
    ]
    for label, value, limit in fields:
        if value is not None and len(value) > limit:
            raise errors.RequestValidationError(
                f"{label} is {len(value)} characters long; at most {limit} are allowed: {value[:40]!r}..."
            )
