"""The request ``_meta`` ai-core sends with tool calls to servers that opt in.

A server registered with ``MCPServerSpec(..., conversation_state=True)`` gets,
on every ``tools/call`` made for a conversation::

    {"ai_core": {"conversation_id": "<id>",
                 "earlier_calls": [{"name": "<tool>", "arguments": {...}, "is_error": false}, ...]}}

``earlier_calls`` are that server's earlier tool calls in the conversation
(its own, un-namespaced tool names), oldest first, that have a result. They
come from the conversation's stored messages, so a conversation resumed in
another process supplies them too, and a server can keep per-conversation
state without keeping anything itself. Other servers (any external one) get
no conversation data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ai_core.types import Message, ToolCallPart, ToolResultPart

__all__ = ["META_KEY", "conversation_meta", "earlier_calls"]

META_KEY = "ai_core"


def earlier_calls(
    history: Sequence[Message], server: str, tools_by_name: Mapping[str, tuple[str | None, str]]
) -> list[dict[str, Any]]:
    """``server``'s answered calls in ``history``; ``tools_by_name`` maps a model-facing
    name to ``(server, tool)``."""
    outcomes: dict[str, bool] = {}
    for message in history:
        for part in message.parts:
            if isinstance(part, ToolResultPart):
                outcomes[part.tool_call_id] = part.is_error
    calls: list[dict[str, Any]] = []
    for message in history:
        if message.role != "assistant":
            continue
        for part in message.parts:
            if not isinstance(part, ToolCallPart) or part.id not in outcomes:
                continue
            owner = tools_by_name.get(part.name)
            if owner is None or owner[0] != server:
                continue
            calls.append({"name": owner[1], "arguments": dict(part.arguments), "is_error": outcomes[part.id]})
    return calls


def conversation_meta(conversation_id: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {META_KEY: {"conversation_id": conversation_id, "earlier_calls": calls}}
