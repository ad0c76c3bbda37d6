"""Rolling summaries: a conversation that outgrows its model's context window keeps working.

``chat.memory("summary", model="openai/gpt-4o-mini", max_context_tokens=...)``
adds a :class:`MemoryLayer` to the conversation. Before each call it replaces
the messages an existing summary stands for with that summary (appended to the
system prompt), keeping the recent turns verbatim. When what is sent passes
``trigger`` (default 75 %) of the window (the smaller of ``max_context_tokens``
and the model's context window from the catalogue), the layer asks the
:class:`MemoryListener` to summarise older turns in the background, after the
call's ``ResponseGenerated`` event. When a request would not fit at all, it
summarises at once, before sending.

The summary is made by the cheap ``model`` through the whole pipeline (its
own conversation tagged ``ai:memory``, priced and written to the ledger like
any other call), and stored durably in ``ai_conversation_memory`` under the
key ``ai:conversation:{id}:context`` (the design's cache key name, which the
scale cache also uses), with the count of messages it covers, its cumulative
cost and the summariser conversation's id. Without persistence it lives in
this process. Cuts fall on user turns only, so a tool call is never separated
from its result.

With ``AI_REDIS_URL`` the summary is also cached in Redis under that key (an
hour), so that processes serving one conversation share it: a process reads
the key when its own copy is more than :data:`SHARED_FRESH_FOR` seconds old,
fills it from the database on a miss (only if no newer value got there first),
and overwrites it with the database's row after storing a new summary. The
database stays the source of truth; before summarising, the latest summary is
read again, so two processes do not pay for the same summary.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ai_core import errors
from ai_core.events.listener import Listener
from ai_core.events.types import ResponseGenerated
from ai_core.logging import get_logger
from ai_core.memory.guard import context_window, estimate_message_tokens, estimate_prompt_tokens
from ai_core.pipeline.middleware import Call, Middleware
from ai_core.types import Message

if TYPE_CHECKING:
    from ai_core.app import AI

__all__ = ["MemoryConfig", "MemoryLayer", "MemoryListener", "MemoryManager", "MemoryRecord", "context_key"]

log = get_logger("ai_core.memory")

SUMMARY_TAG = "ai:memory"
SUMMARY_PROMPT = (
    "You maintain the memory of a conversation. Write a concise summary of the conversation below that keeps "
    "every fact, name, number, decision and open question a later reply could need. Reply with the summary only."
)


CONTEXT_TTL = 3600.0
"""How long ``ai:conversation:{id}:context`` is kept in Redis."""
SHARED_FRESH_FOR = 30.0
"""With Redis, how long a process uses its own copy of a summary before reading the shared one again."""


def context_key(conversation_id: str) -> str:
    """The design's key name for a conversation's context (``ai:conversation:{id}:context``)."""
    return f"ai:conversation:{conversation_id}:context"


@dataclass(frozen=True)
class MemoryConfig:
    model: str
    max_context_tokens: int | None = None
    trigger: float = 0.75
    keep_recent: int = 4


@dataclass(frozen=True)
class MemoryRecord:
    conversation_id: str
    summary: str
    covered: int
    """How many of the conversation's first messages the summary stands for."""
    model: str
    cost: Decimal | None = None
    summaries: int = 1
    summarizer_conversation_id: str | None = None


@dataclass(frozen=True)
class _Snapshot:
    messages: tuple[Message, ...]
    system: str | None
    config: MemoryConfig
    user: str | None
    tenant: str | None


class MemoryManager:
    """One per ``AI``: summaries by conversation, the background queue, the listener."""

    _by_ai: weakref.WeakKeyDictionary[Any, MemoryManager] = weakref.WeakKeyDictionary()
    _guard = threading.Lock()

    @classmethod
    def of(cls, ai: AI) -> MemoryManager:
        with cls._guard:
            manager = cls._by_ai.get(ai)
            if manager is None:
                manager = cls._by_ai[ai] = cls(ai)
            return manager

    def __init__(self, ai: AI) -> None:
        self._ai = weakref.ref(ai)
        self.services = ai.services
        scale = ai.providers.scale
        self._shared: Any = scale.store if scale.redis is not None else None
        """The Redis store of ``ai:conversation:{id}:context``, when configured."""
        self._records: dict[str, MemoryRecord | None] = {}
        self._read_at: dict[str, float] = {}
        self._pending: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()
        self.listener = MemoryListener(self)
        ai.services.events.add_listener(
            Listener(events=ResponseGenerated, handler=self.listener, name="MemoryListener", timeout=300)
        )

    # -- reading and writing summaries ------------------------------------------------

    async def get(self, conversation_id: str, *, fresh: bool = False) -> MemoryRecord | None:
        """The conversation's summary: this process's copy, else (with Redis) the shared
        one, else the database's. ``fresh``: not this process's copy (before summarising)."""
        shared = self._shared
        with self._lock:
            if conversation_id in self._records and not (
                shared is not None
                and (fresh or time.monotonic() - self._read_at.get(conversation_id, 0.0) > SHARED_FRESH_FOR)
            ):
                return self._records[conversation_id]
        database = self.services.database
        record: MemoryRecord | None = None
        found = await self._read_shared(conversation_id) if shared is not None else None
        if found is not None:
            record = found if isinstance(found, MemoryRecord) else None  # {}: known to have no summary yet
        else:
            record = await database.run(_load, database, conversation_id) if database is not None else None
            if shared is not None and database is not None:
                await shared.add(context_key(conversation_id), _as_json(record), CONTEXT_TTL)
        return self._remember(conversation_id, record, replace=shared is not None)

    def _remember(self, conversation_id: str, record: MemoryRecord | None, *, replace: bool) -> MemoryRecord | None:
        with self._lock:
            current = self._records.get(conversation_id)
            if conversation_id not in self._records or (
                replace and (record.covered if record else 0) >= (current.covered if current else 0)
            ):
                self._records[conversation_id] = record
                current = record
            self._read_at[conversation_id] = time.monotonic()
            return current

    async def _read_shared(self, conversation_id: str) -> MemoryRecord | dict[str, Any] | None:
        """The shared copy: a record, ``{}`` for "none yet", or None when Redis has no word."""
        try:
            value = await self._shared.get(context_key(conversation_id))
        except errors.StorageError as exc:  # the database answers instead
            log.warning("memory_cache_unavailable", error=str(exc))
            return None
        if value is None or not value:
            return value  # type: ignore[no-any-return]
        return _from_json(value)

    async def _save(self, record: MemoryRecord) -> MemoryRecord:
        with self._lock:
            current = self._records.get(record.conversation_id)
            if current is not None and current.covered >= record.covered:
                return current  # a summary covering as much already won
            self._records[record.conversation_id] = record
            self._read_at[record.conversation_id] = time.monotonic()
        database = self.services.database
        stored: MemoryRecord | None = record
        if database is not None:
            await database.run(_store, database, record)
            if self._shared is not None:  # what the database kept (a summary covering more may have won there)
                stored = await database.run(_load, database, record.conversation_id)
        if self._shared is not None:
            await self._shared.set(context_key(record.conversation_id), _as_json(stored), CONTEXT_TTL)
        return record

    # -- summarising ------------------------------------------------------------------------

    def want_background(self, conversation_id: str, snapshot: _Snapshot) -> None:
        with self._lock:
            self._pending[conversation_id] = snapshot

    def take_pending(self, conversation_id: str) -> _Snapshot | None:
        with self._lock:
            return self._pending.pop(conversation_id, None)

    async def summarise(self, conversation_id: str, snapshot: _Snapshot, cut: int) -> MemoryRecord | None:
        """Summarise ``snapshot.messages[:cut]`` (with the summary so far) into a new record."""
        previous = await self.get(conversation_id, fresh=True)  # another process may have done it
        start = previous.covered if previous is not None else 0
        if cut <= start:
            return previous
        ai = self._ai()
        if ai is None:
            return previous
        transcript = render(snapshot.messages[start:cut])
        if previous is not None:
            transcript = f"Summary so far:\n{previous.summary}\n\nLater turns:\n{transcript}"
        summariser = ai.conversation(
            snapshot.config.model, user=snapshot.user, tenant=snapshot.tenant, tags=(SUMMARY_TAG,)
        )
        summariser.system(SUMMARY_PROMPT).user(transcript).metadata(summarises=conversation_id)
        response = await summariser.asend()
        cost = response.cost.total if response.cost is not None else None
        if previous is not None and previous.cost is not None and cost is not None:
            cost += previous.cost
        record = MemoryRecord(
            conversation_id=conversation_id,
            summary=response.text.strip(),
            covered=cut,
            model=snapshot.config.model,
            cost=cost,
            summaries=(previous.summaries + 1) if previous is not None else 1,
            summarizer_conversation_id=summariser.id,
        )
        log.info("conversation_summarised", conversation_id=conversation_id, covered=cut, cost=str(cost))
        return await self._save(record)


class MemoryListener:
    """Summarises in the background, after the call that found the history long (on ``ResponseGenerated``)."""

    def __init__(self, manager: MemoryManager) -> None:
        self._manager = weakref.ref(manager)

    async def __call__(self, event: ResponseGenerated) -> None:
        manager = self._manager()
        if manager is None or event.conversation_id is None:
            return
        snapshot = manager.take_pending(event.conversation_id)
        if snapshot is None:
            return
        cut = choose_cut(snapshot.messages, keep_recent=snapshot.config.keep_recent)
        if cut:
            await manager.summarise(event.conversation_id, snapshot, cut)


def choose_cut(messages: tuple[Message, ...] | list[Message], *, keep_recent: int, start: int = 0) -> int:
    """The latest index at or before ``len - keep_recent`` where a user turn begins (0: none)."""
    last = max(len(messages) - max(keep_recent, 1), 0)
    for index in range(last, start, -1):
        if messages[index].role == "user":
            return index
    return 0


def render(messages: tuple[Message, ...] | list[Message]) -> str:
    lines = []
    for message in messages:
        text = message.text or "; ".join(
            getattr(part, "content", "") or f"called {getattr(part, 'name', '')}" for part in message.parts
        )
        lines.append(f"{message.role}: {text}")
    return "\n".join(lines)


class MemoryLayer(Middleware):
    """One conversation's memory (added by ``.memory("summary", ...)``)."""

    name = "memory"
    order = 15

    def __init__(self, manager: MemoryManager, config: MemoryConfig) -> None:
        self.manager = manager
        self.config = config

    def window(self, call: Call) -> int | None:
        model_window = context_window(call.services, call.request.provider, call.request.model)
        sizes = [n for n in (self.config.max_context_tokens, model_window) if n]
        return min(sizes) if sizes else None

    async def rewrite(self, call: Call) -> Call:
        window = self.window(call)
        conversation_id = call.conversation_id
        if window is None or conversation_id is None:
            return call
        request = call.request
        messages = tuple(request.messages)
        snapshot = _Snapshot(messages, request.system, self.config, call.user, call.tenant)
        record = await self.manager.get(conversation_id)
        reduced = _reduced(call, record)
        budget = window - (request.max_tokens or 0)
        if estimate_prompt_tokens(reduced.request) > budget:
            # Does not fit even with the summary so far: summarise now, keeping as few turns as needed.
            for keep in range(self.config.keep_recent, 0, -1):
                cut = choose_cut(messages, keep_recent=keep, start=record.covered if record else 0)
                if cut:
                    record = await self.manager.summarise(conversation_id, snapshot, cut)
                    reduced = _reduced(call, record)
                    if estimate_prompt_tokens(reduced.request) <= budget:
                        break
        elif estimate_prompt_tokens(reduced.request) > self.config.trigger * window:
            self.manager.want_background(conversation_id, snapshot)
        call.state["memory"] = {"covered": record.covered if record else 0, "window": window}
        return reduced


def _reduced(call: Call, record: MemoryRecord | None) -> Call:
    if record is None or record.covered <= 0 or record.covered >= len(call.request.messages):
        return call
    request = call.request
    note = f"Summary of the earlier conversation:\n{record.summary}"
    system = f"{request.system}\n\n{note}" if request.system else note
    return call.with_request(
        request.model_copy(update={"messages": list(request.messages[record.covered :]), "system": system})
    )


# -- storage -----------------------------------------------------------------------------


def _as_json(record: MemoryRecord | None) -> dict[str, Any]:
    """The record as the shared cache keeps it (``{}``: no summary yet)."""
    if record is None:
        return {}
    return {
        "conversation_id": record.conversation_id,
        "summary": record.summary,
        "covered": record.covered,
        "model": record.model,
        "cost": None if record.cost is None else str(record.cost),
        "summaries": record.summaries,
        "summarizer_conversation_id": record.summarizer_conversation_id,
    }


def _from_json(value: dict[str, Any]) -> MemoryRecord:
    cost = value.get("cost")
    return MemoryRecord(**{**value, "cost": None if cost is None else Decimal(cost)})


def _load(database: Any, conversation_id: str) -> MemoryRecord | None:
    from sqlalchemy import select

    from ai_core.security.tables import ConversationMemory
    from ai_core.storage.base import table_of

    table = table_of(ConversationMemory)
    with database.read() as conn:
        row = conn.execute(select(table).where(table.c.conversation_id == conversation_id)).mappings().first()
    if row is None:
        return None
    return MemoryRecord(
        conversation_id=row["conversation_id"],
        summary=row["summary"],
        covered=row["covered_messages"],
        model=row["model"],
        cost=row["cost"],
        summaries=row["summaries"],
        summarizer_conversation_id=row["summarizer_conversation_id"],
    )


def _store(database: Any, record: MemoryRecord) -> None:
    from ai_core.security.tables import ConversationMemory
    from ai_core.storage.base import table_of

    table = table_of(ConversationMemory)
    values = {
        "key": context_key(record.conversation_id),
        "summary": record.summary,
        "covered_messages": record.covered,
        "summary_tokens": estimate_message_tokens(Message.assistant(record.summary or " ")),
        "model": record.model,
        "summarizer_conversation_id": record.summarizer_conversation_id,
        "cost": record.cost,
        "summaries": record.summaries,
        "updated_at": datetime.now(UTC),
    }
    if database.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    statement = insert(table).values(conversation_id=record.conversation_id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.conversation_id], set_=values, where=table.c.covered_messages < record.covered
    )
    with database.write() as conn:
        conn.execute(statement)


def memory_layer(
    ai: AI, strategy: str, *, model: str, max_context_tokens: int | None = None, **options: Any
) -> MemoryLayer:
    """The layer ``ConversationBuilder.memory`` adds; checks its arguments."""
    if strategy != "summary":
        raise errors.ConfigurationError(f"unknown memory strategy {strategy!r} (known: summary)")
    from ai_core.pipeline.providers import split_model

    split_model(model)
    unknown = set(options) - {"trigger", "keep_recent"}
    if unknown:
        raise errors.ConfigurationError(
            f"unknown memory option {', '.join(sorted(unknown))} (known: trigger, keep_recent)"
        )
    if max_context_tokens is not None and max_context_tokens < 64:
        raise errors.ConfigurationError(f"max_context_tokens must be at least 64, got {max_context_tokens}")
    config = replace(MemoryConfig(model=model, max_context_tokens=max_context_tokens), **options)
    if not 0 < config.trigger <= 1:
        raise errors.ConfigurationError(f"trigger must be a share of the window between 0 and 1, got {config.trigger}")
    return MemoryLayer(MemoryManager.of(ai), config)
