"""What the pipeline needs from conversation persistence.

The pipeline calls a :class:`ConversationStore` at fixed points of every turn:
the user's messages are saved before the provider is called, and the response
(with usage, cost, latency, provider and model) after it, in one transaction;
a failed call records a failed attempt instead. :class:`MemoryStore` keeps
history in memory for stateless use (``AI_PERSISTENCE=off``); the SQL store in
:mod:`ai_core.storage` is the default.
"""

from __future__ import annotations

import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ai_core.types import ChatResponse, Message

__all__ = ["ConversationRecord", "ConversationStore", "MemoryStore", "TurnContext", "new_id"]


def new_id() -> str:
    """A random 128-bit id as 32 hex digits (uuid4's entropy at a tenth of its cost)."""
    return os.urandom(16).hex()


@dataclass
class ConversationRecord:
    """A conversation's identity, who it belongs to, and its history."""

    id: str
    messages: list[Message] = field(default_factory=list)
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class TurnContext:
    """One send: the conversation, the new messages, and who asked."""

    conversation: ConversationRecord
    new_messages: list[Message]
    provider: str
    model: str
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    message_ids: list[str] = field(default_factory=list)
    streamed: bool = False


@runtime_checkable
class ConversationStore(Protocol):
    """Persistence as the pipeline uses it. Every method is async and must not
    block the event loop; every write is atomic."""

    async def load(self, conversation_id: str) -> ConversationRecord | None:
        """The stored conversation with its full history, or None."""

    async def save_user_turn(self, turn: TurnContext) -> None:
        """Persist ``turn.new_messages`` (creating the conversation if new)
        before the provider is called; fill ``turn.message_ids``."""

    async def save_response(
        self, turn: TurnContext, response: ChatResponse, *, extra_messages: list[Message] | None = None
    ) -> str:
        """Persist the response with its usage, cost and latency, and any
        tool-call/tool-result messages of the turn, in one transaction; update
        the conversation totals exactly. Return the response message's id."""

    async def save_failure(self, turn: TurnContext, error: BaseException) -> None:
        """Record a failed attempt for the turn (never a half-written response)."""

    async def aclose(self) -> None: ...


class MemoryStore:
    """Keeps recent conversations in this process only: for stateless use and tests.

    Bounded (least recently used first out), because a long-running stateless
    server would otherwise keep every conversation it ever served.
    """

    def __init__(self, max_conversations: int = 1024) -> None:
        self._conversations: OrderedDict[str, ConversationRecord] = OrderedDict()
        self.max_conversations = max_conversations
        self.failures: deque[tuple[str, str]] = deque(maxlen=1024)

    async def load(self, conversation_id: str) -> ConversationRecord | None:
        record = self._conversations.get(conversation_id)
        if record is None:
            return None
        return ConversationRecord(
            id=record.id,
            messages=list(record.messages),
            user=record.user,
            tenant=record.tenant,
            tags=record.tags,
            title=record.title,
            metadata=dict(record.metadata),
        )

    async def save_user_turn(self, turn: TurnContext) -> None:
        record = self._conversations.get(turn.conversation.id)
        if record is None:
            record = ConversationRecord(id=turn.conversation.id, user=turn.user, tenant=turn.tenant, tags=turn.tags)
            self._conversations[turn.conversation.id] = record
            while len(self._conversations) > self.max_conversations:
                self._conversations.popitem(last=False)
        else:
            self._conversations.move_to_end(turn.conversation.id)
        record.messages.extend(turn.new_messages)
        turn.message_ids = [new_id() for _ in turn.new_messages]

    async def save_response(
        self, turn: TurnContext, response: ChatResponse, *, extra_messages: list[Message] | None = None
    ) -> str:
        record = self._conversations.get(turn.conversation.id)
        if record is None:  # evicted while the call ran: nothing to append to
            return new_id()
        record.messages.extend(extra_messages or [])
        record.messages.append(response.message)
        return new_id()

    async def save_failure(self, turn: TurnContext, error: BaseException) -> None:
        self.failures.append((turn.conversation.id, type(error).__name__))

    async def aclose(self) -> None:
        return None
