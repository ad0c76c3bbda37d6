"""What the pipeline needs from conversation persistence.

The pipeline calls a :class:`ConversationStore` at fixed points of every turn.
The ledger comes first: the user's messages are taken before the provider is
called (the SQL store writes them in the first model call's transaction), and
each model call's answer, with its usage, cost, latency, provider and model, the
moment it arrives (:meth:`~ConversationStore.record_call`), before anything
that can still fail (parsing, tools, later rounds). What then
becomes of the call is its ``outcome``: ``answered``, ``parse_failed``,
``tool_round_limit`` or ``interrupted``. Tool results are saved as they are
produced; failed provider attempts are recorded too. :class:`MemoryStore`
keeps history in memory for stateless use (``AI_PERSISTENCE=off``); the SQL
store in :mod:`ai_core.storage` is the default.

A conversation belongs to its tenant and, when it has one, its user:
:func:`in_scope` is the rule every read path applies.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from ai_core.ids import new_id
from ai_core.types import ChatResponse, Message

__all__ = [
    "OUTCOMES",
    "ConversationRecord",
    "ConversationStore",
    "MemoryStore",
    "TurnContext",
    "in_scope",
    "new_id",
]

OUTCOMES = ("answered", "parse_failed", "tool_round_limit", "interrupted", "cache_hit")
"""What became of a recorded model call."""


@dataclass(slots=True)
class ConversationRecord:
    """A conversation's identity, who it belongs to, and its history."""

    id: str
    messages: list[Message] = field(default_factory=list)
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    """The model the conversation last used."""
    stored: bool = False
    """Known to exist in the store (loaded, or written by this process). A hint
    only: the SQL store inserts a conversation it has not seen with its first
    turn's totals in one statement, and falls back to an update if it exists."""


def in_scope(owner_tenant: str | None, owner_user: str | None, tenant: str | None, user: str | None) -> bool:
    """Whether a caller (``tenant``, ``user``) may read a conversation owned by
    (``owner_tenant``, ``owner_user``): the tenant must be the same (no tenant is
    a tenant of its own), and a conversation with a user is that user's only."""
    return owner_tenant == tenant and (owner_user is None or owner_user == user)


@dataclass(slots=True)
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
    staged: bool = False
    """The new messages are not written yet: the store writes them with the turn's first write."""

    @property
    def all_tags(self) -> tuple[str, ...]:
        """The conversation's tags and this turn's, each once."""
        return tuple(dict.fromkeys((*self.conversation.tags, *self.tags)))


@runtime_checkable
class ConversationStore(Protocol):
    """Persistence as the pipeline uses it. Every method is async and must not
    block the event loop; every write is atomic."""

    async def load(
        self, conversation_id: str, *, tenant: str | None = None, user: str | None = None
    ) -> ConversationRecord | None:
        """The stored conversation with its full history, or None when there is
        none that (``tenant``, ``user``) may read (see :func:`in_scope`)."""

    async def save_user_turn(self, turn: TurnContext) -> None:
        """Take ``turn.new_messages`` (creating the conversation if new) and fill
        ``turn.message_ids``. A store may write them at once, or stage them and
        write them in the transaction of the turn's first write (the SQL store
        does: one transaction per model call), as long as no later write of the
        turn can be stored without them."""

    async def flush(self, turn: TurnContext) -> None:
        """Write whatever is still staged for ``turn`` (a cancelled turn's messages)."""

    async def record_call(
        self, turn: TurnContext, response: ChatResponse, *, outcome: str = "answered", call_id: str | None = None
    ) -> str:
        """Persist one model call's answer with its usage, cost and latency, as a
        ledger row marked ``outcome``, and add it to the conversation totals, in
        one transaction. Called the moment the answer arrives. Return its id."""

    async def save_messages(self, turn: TurnContext, messages: list[Message]) -> list[str]:
        """Append messages that cost nothing (tool calls' results) to the conversation."""

    async def set_outcome(self, turn: TurnContext, message_id: str, outcome: str) -> None:
        """Mark what became of a recorded call (one of :data:`OUTCOMES`)."""

    async def save_failure(self, turn: TurnContext, error: BaseException) -> None:
        """Record that the turn failed (never a half-written response)."""

    async def save_failed_attempts(self, turn: TurnContext, attempts: Sequence[tuple[str, str, BaseException]]) -> None:
        """Record provider attempts (``provider``, ``model``, error) that failed
        before a retry or a fallback took over."""

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

    async def load(
        self, conversation_id: str, *, tenant: str | None = None, user: str | None = None
    ) -> ConversationRecord | None:
        record = self._conversations.get(conversation_id)
        if record is None or not in_scope(record.tenant, record.user, tenant, user):
            return None
        return replace(record, messages=list(record.messages), metadata=dict(record.metadata))

    def _record(self, turn: TurnContext) -> ConversationRecord | None:
        record = self._conversations.get(turn.conversation.id)
        if record is not None:
            self._conversations.move_to_end(turn.conversation.id)
        return record

    async def save_user_turn(self, turn: TurnContext) -> None:
        record = self._record(turn)
        if record is None:
            record = ConversationRecord(id=turn.conversation.id, user=turn.user, tenant=turn.tenant, tags=turn.tags)
            self._conversations[turn.conversation.id] = record
            while len(self._conversations) > self.max_conversations:
                self._conversations.popitem(last=False)
        record.messages.extend(turn.new_messages)
        turn.message_ids = [new_id() for _ in turn.new_messages]

    async def flush(self, turn: TurnContext) -> None:
        return None

    async def record_call(
        self, turn: TurnContext, response: ChatResponse, *, outcome: str = "answered", call_id: str | None = None
    ) -> str:
        record = self._record(turn)
        if record is not None:  # None: evicted while the call ran, nothing to append to
            record.messages.append(response.message)
            record.provider, record.model = response.provider, response.model
        return new_id()

    async def save_messages(self, turn: TurnContext, messages: list[Message]) -> list[str]:
        record = self._record(turn)
        if record is not None:
            record.messages.extend(messages)
        return [new_id() for _ in messages]

    async def set_outcome(self, turn: TurnContext, message_id: str, outcome: str) -> None:
        return None

    async def save_failure(self, turn: TurnContext, error: BaseException) -> None:
        self.failures.append((turn.conversation.id, type(error).__name__))

    async def save_failed_attempts(self, turn: TurnContext, attempts: Sequence[tuple[str, str, BaseException]]) -> None:
        self.failures.extend((turn.conversation.id, type(error).__name__) for _, _, error in attempts)

    async def aclose(self) -> None:
        return None
