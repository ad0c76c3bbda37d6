"""Thought histories per conversation, rebuilt from the stored conversation when needed.

ai-core sends, with every ``tools/call`` to a server registered with ``conversation_state=True``,
the request ``_meta``::

    {"ai_core": {"conversation_id": "<id>",
                 "earlier_calls": [{"name": str, "arguments": dict, "is_error": bool}, ...]}}

``earlier_calls`` are this server's earlier calls in that conversation, oldest first, read from
the stored conversation. The history of a conversation is kept under its id (a bounded LRU); it is
rebuilt from ``earlier_calls`` when the id is unknown here (a resumed conversation, another
process, an evicted entry) or when what is kept here is not what the conversation stored (another
process carried the conversation on). What is kept here may run ahead of the stored calls (calls
of the same turn not stored yet); that is not rebuilt. A call without that ``_meta`` (an ordinary
MCP client) uses the history of its session.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ai_mcp_sequential.thinking import TOOL_NAME, ThoughtData, ThoughtHistory, ToolOutcome, unknown_tool
from ai_mcp_sequential.thinking import validate_arguments as _validate

__all__ = ["META_KEY", "ConversationRef", "SequentialThinking", "parse_meta"]

META_KEY = "ai_core"


@dataclass(frozen=True)
class ConversationRef:
    """What the request ``_meta`` says about the conversation a call belongs to.

    ``earlier_calls`` is None when the caller did not send them (then what is kept is trusted).
    """

    conversation_id: str
    earlier_calls: tuple[ThoughtData, ...] | None


def _is_ours(name: Any) -> bool:
    """The tool's own name, or a client's namespaced form of it (``server__sequentialthinking``)."""
    if not isinstance(name, str) or not name.endswith(TOOL_NAME):
        return False
    head = name[: -len(TOOL_NAME)]
    return not head or not head[-1].isalnum()


def earlier_thoughts(calls: Sequence[Any]) -> tuple[ThoughtData, ...]:
    """The thoughts the earlier calls recorded: calls of this tool that succeeded, in order."""
    thoughts = []
    for call in calls:
        if not isinstance(call, Mapping) or call.get("is_error") or not _is_ours(call.get("name")):
            continue
        arguments = call.get("arguments")
        checked = _validate(arguments if isinstance(arguments, Mapping) else None)
        if isinstance(checked, ThoughtData):
            thoughts.append(checked)
    return tuple(thoughts)


def parse_meta(meta: Mapping[str, Any] | None) -> ConversationRef | None:
    """The conversation named by a request's ``_meta``, or None (no usable ``ai_core`` entry)."""
    entry = meta.get(META_KEY) if isinstance(meta, Mapping) else None
    if not isinstance(entry, Mapping):
        return None
    conversation_id = entry.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id:
        return None
    calls = entry.get("earlier_calls")
    earlier = earlier_thoughts(calls) if isinstance(calls, list) else None
    return ConversationRef(conversation_id=conversation_id, earlier_calls=earlier)


@dataclass
class _Conversation:
    history: ThoughtHistory
    signatures: list[int] = field(default_factory=list)


class SequentialThinking:
    """The tool's state for one server object: a bounded LRU of conversation histories.

    :param max_conversations: conversations kept; the least recently used is dropped (and
        rebuilt from ``earlier_calls`` if it comes back).
    :param max_thoughts: thoughts kept per history (the count keeps going).
    :param on_thought: called with each accepted thought (the console script logs it).
    """

    def __init__(
        self,
        *,
        max_conversations: int = 1024,
        max_thoughts: int = 10_000,
        on_thought: Callable[[ThoughtData], None] | None = None,
    ) -> None:
        if max_conversations < 1:
            raise ValueError("max_conversations must be at least 1")
        self.max_conversations = max_conversations
        self.max_thoughts = max_thoughts
        self.on_thought = on_thought
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def new_history(self) -> ThoughtHistory:
        return ThoughtHistory(max_thoughts=self.max_thoughts)

    def conversation(self, conversation_id: str) -> ThoughtHistory | None:
        """The history kept for a conversation, if any (does not refresh its LRU place)."""
        with self._lock:
            kept = self._conversations.get(conversation_id)
            return kept.history if kept is not None else None

    def __len__(self) -> int:
        return len(self._conversations)

    def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        meta: Mapping[str, Any] | None = None,
        session: ThoughtHistory | None = None,
    ) -> ToolOutcome:
        """One ``tools/call``: the conversation's history when ``meta`` names one, else ``session``."""
        if name != TOOL_NAME:
            return unknown_tool(name)
        checked = _validate(arguments)
        if isinstance(checked, str):
            return ToolOutcome(text=checked, structured=None, is_error=True)
        ref = parse_meta(meta)
        with self._lock:
            if ref is None:
                if session is None:
                    raise ValueError("a call without a conversation needs a session history")
                outcome = session.add(checked)
            else:
                kept = self._resolve(ref)
                outcome = kept.history.add(checked)
                kept.signatures.append(hash(checked))
        if self.on_thought is not None:
            self.on_thought(checked)
        return outcome

    def _resolve(self, ref: ConversationRef) -> _Conversation:
        kept = self._conversations.get(ref.conversation_id)
        earlier = ref.earlier_calls
        if kept is not None:
            self._conversations.move_to_end(ref.conversation_id)
            if earlier is None or kept.signatures[: len(earlier)] == [hash(d) for d in earlier]:
                return kept
        kept = _Conversation(history=self.new_history())
        for data in earlier or ():
            kept.history.add(data)
            kept.signatures.append(hash(data))
        self._conversations[ref.conversation_id] = kept
        self._conversations.move_to_end(ref.conversation_id)
        while len(self._conversations) > self.max_conversations:
            self._conversations.popitem(last=False)
        return kept
