"""Deferred tool calls: refusing to move on past them, and deciding them later.

A turn whose approver deferred a call ends with the model's answer (its tool
calls) stored and the deferred calls in :class:`PendingCalls`. Until each is
decided, sending again is refused (the provider would reject a conversation
with unanswered tool calls anyway). ``approve(call_id)`` runs the call,
``deny(call_id, reason)`` answers it with an error the model reads; either way
the result is stored as the call's tool message, and when the last pending call
of the turn is decided the turn continues: the model is called again with the
results, and its answer is returned. This works in another process: the
conversation is loaded from storage, and the pending call names its server.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import TYPE_CHECKING

from ai_core import errors
from ai_core.mcp.pending import PendingCall
from ai_core.pipeline.store import TurnContext
from ai_core.types import ChatResponse, Message, ToolCallPart, ToolResultPart

if TYPE_CHECKING:
    from ai_core.pipeline.builder import ConversationBuilder

__all__ = ["decide_pending", "has_unanswered_calls", "refuse_if_pending"]


def _unanswered(messages: Iterable[Message]) -> list[str]:
    messages = list(messages)
    calls = [p.id for m in messages for p in m.parts if isinstance(p, ToolCallPart)]
    if not calls:
        return calls
    answered = {p.tool_call_id for m in messages for p in m.parts if isinstance(p, ToolResultPart)}
    return [call for call in calls if call not in answered]


def has_unanswered_calls(conv: ConversationBuilder) -> bool:
    """Whether a tool call of the conversation has no result yet (usually not: then
    :func:`refuse_if_pending` need not look in the store). Only the model asks for
    tools: a conversation with no assistant message has none."""
    if not any(message.role == "assistant" for message in chain(conv._history, conv._pending)):
        return False
    return bool(_unanswered(chain(conv._history, conv._pending)))


async def refuse_if_pending(conv: ConversationBuilder) -> None:
    """Raise :class:`ToolCallsPendingError` when the conversation waits on deferred calls."""
    if not has_unanswered_calls(conv):
        return  # the common case: no database read
    pending = await conv._ai._mcp_pending.list(conv.id)
    if pending:
        ids = [p.call_id for p in pending]
        raise errors.ToolCallsPendingError(
            f"conversation {conv.id} has tool calls awaiting a decision ({', '.join(ids)}): "
            "call approve(call_id) or deny(call_id, reason) first",
            call_ids=ids,
        )


async def decide_pending(
    conv: ConversationBuilder, call_id: str, *, approve: bool, reason: str = ""
) -> ChatResponse | None:
    """Decide one pending call; continue the turn when it was the last one."""
    ai = conv._ai
    record = await conv._load(ai.services.store)
    pending = {p.call_id: p for p in await ai._mcp_pending.list(conv.id)}
    call = pending.get(call_id)
    if call is None:
        raise errors.ConfigurationError(
            f"conversation {conv.id} has no tool call {call_id!r} awaiting a decision"
            + (f" (pending: {', '.join(pending)})" if pending else "")
        )
    for server in {p.server for p in pending.values() if p.server}:
        if server not in conv._mcp_names:  # the continued turn offers the same tools
            conv.mcp(server)
    if approve:
        content, is_error = await _run(conv, call)
    else:
        content, is_error = f"the call was denied{': ' + reason if reason else ''}", True
    if not await ai._mcp_pending.remove(conv.id, call_id):
        raise errors.ConfigurationError(f"tool call {call_id!r} was decided elsewhere meanwhile")
    provider, model = conv._resolve_model()
    turn = TurnContext(
        conversation=record,
        new_messages=[],
        provider=provider,
        model=model,
        user=conv._user_id,
        tenant=conv._tenant,
        tags=conv._tags,
    )
    message = Message(
        role="tool",
        parts=[ToolResultPart(tool_call_id=call.call_id, name=call.name, content=content, is_error=is_error)],
    )
    await ai.services.store.save_messages(turn, [message])
    conv._history.append(message)
    _emit(conv, call, "ok" if approve and not is_error else ("denied" if not approve else "error"), is_error)
    if len(pending) > 1:
        return None
    return await conv.asend()


async def _run(conv: ConversationBuilder, call: PendingCall) -> tuple[str, bool]:
    toolbox = await conv._toolbox()
    part = ToolCallPart(id=call.call_id, name=call.name, arguments=call.arguments)
    if call.name not in toolbox.owners:
        return f"the tool {call.name!r} is no longer available", True
    result = await toolbox.execute(part, conv.id, conv._history)
    return result.content, result.is_error


def _emit(conv: ConversationBuilder, call: PendingCall, outcome: str, is_error: bool) -> None:
    from ai_core.events.types import AgentActionCompleted

    events = conv._ai.services.events
    if events.wants(AgentActionCompleted):
        events.emit(
            AgentActionCompleted(
                conversation_id=conv.id,
                call_id=call.call_id,
                tool=call.name,
                server=call.server,
                server_tool=call.tool if call.server else None,
                outcome=outcome,
                is_error=is_error,
            )
        )
