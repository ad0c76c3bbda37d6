"""Caches under the design's key names, in memory (a bounded LRU with TTL) or in Redis.

    ai:models:{provider}                 a provider's model list, 1 hour
    ai:costs:{provider}:{model}          a model's price, 24 hours
    ai:response:{hash}                   an answer, opt-in (``.cache(ttl=...)``, ``AI_RESPONSE_CACHE_TTL``)
    ai:conversation:{id}:context         a conversation's memory summary (ai_core.memory), 1 hour

The response key is a hash of the normalised request (provider, model,
messages, system, sampling options, tools, response format) and the tenant, so
one tenant never reads another's answers. Values in Redis are JSON.

A hit is answered by :class:`ResponseCacheLayer` without calling the provider.
It sits outside the budget layer, so a hit touches no budget, and writes a
ledger row of its own: ``outcome = "cache_hit"``, not billable, cost 0, with
the usage the hit saved; the response says ``cached=True``. With ``fallback``,
an entry past its TTL (kept for ``stale_for`` more seconds) answers a call
whose every provider failed.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from hashlib import sha256
from typing import Any

from ai_core import errors
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.pipeline.store import new_id
from ai_core.types import ChatRequest, ChatResponse, Cost, ReasoningDelta, StreamCompleted, StreamEvent, TextDelta
from ai_core.types.construct import updated

__all__ = [
    "MODELS_TTL",
    "PRICES_TTL",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "ResponseCacheLayer",
    "as_served",
    "conversation_context_key",
    "costs_key",
    "models_key",
    "response_key",
]

MODELS_TTL = 3600.0
PRICES_TTL = 86400.0
STALE_FOR = 86400.0
"""How long past its TTL an answer is kept for the fallback."""


def models_key(provider: str) -> str:
    return f"ai:models:{provider}"


def costs_key(provider: str, model: str) -> str:
    return f"ai:costs:{provider}:{model}"


def response_key(digest: str) -> str:
    return f"ai:response:{digest}"


def conversation_context_key(conversation_id: str) -> str:
    return f"ai:conversation:{conversation_id}:context"


_KEYED = {
    "provider",
    "model",
    "messages",
    "system",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    "provider_options",
}
"""The request fields that change the answer: the cache key's. The others (a test holds
the two to :class:`ChatRequest`'s fields)."""
_NOT_KEYED = {"user", "metadata"}
_serializer = ChatRequest.__pydantic_serializer__


def request_digest(request: ChatRequest, tenant: str | None) -> str:
    """The normalised request: what changes the answer, nothing that does not (metadata, the end user's id).

    The serializer is called directly (``model_dump_json``'s wrapper is a third of the cost),
    and the bytes hashed in one call (three calls cost a cache hit 1.5 us more). A ``repr``
    of the values instead of the JSON saved nothing."""
    keyed = _serializer.to_json(request, include=_KEYED, exclude_none=True)
    return sha256(b"%s\x00%s" % ((tenant or "").encode(), keyed)).hexdigest()


# -- stores ----------------------------------------------------------------------


class MemoryCache:
    """A bounded LRU whose entries expire; values are kept as the objects given."""

    shared = False

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    async def get(self, key: str) -> Any | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[1]

    async def set(self, key: str, value: Any, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def add(self, key: str, value: Any, ttl: float) -> None:
        """``set`` unless the key holds a value already."""
        if await self.get(key) is None:
            await self.set(key, value, ttl)

    def __len__(self) -> int:
        return len(self._entries)


class RedisCache:
    """The same over Redis: JSON values, ``SET ... PX`` expiry, shared by every process.

    A read is one round trip that also carries the process's queued writes; a write
    is queued (:meth:`RedisConnection.defer`), so nobody waits for it, and reaches
    Redis with the next round trip or ``write_delay`` seconds later."""

    shared = True

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def get(self, key: str) -> Any | None:
        raw = await self.get_raw(key)
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        self.set_raw(key, json.dumps(value, default=str), ttl)

    async def add(self, key: str, value: Any, ttl: float) -> None:
        """``set`` unless the key holds a value already (``SET NX``), queued like ``set``."""
        self.redis.defer(("add", key, json.dumps(value, default=str), max(1, int(ttl * 1000))))

    async def get_raw(self, key: str, fresh_at: float | None = None) -> bytes | None:
        reply = await self.redis.round_trip(key, fresh_at=fresh_at)
        return reply.value if reply.kind == "hit" else None

    def set_raw(self, key: str, value: str | bytes, ttl: float) -> None:
        self.redis.defer(("set", key, value, max(1, int(ttl * 1000))))

    async def delete(self, key: str) -> None:
        await self.redis.execute("DEL", key)


async def cached(store: Any, key: str, ttl: float, load: Callable[[], Awaitable[Any]]) -> Any:
    """``store[key]`` if present, else ``await load()`` kept for ``ttl`` seconds (model lists, prices)."""
    found = await store.get(key)
    if found is not None:
        return found
    value = await load()
    await store.set(key, value, ttl)
    return value


# -- answers ---------------------------------------------------------------------


class ResponseCache:
    """Answers by normalised request. An entry is fresh for its TTL and kept
    ``stale_for`` seconds longer for the fallback when providers are down."""

    def __init__(self, store: Any, *, stale_for: float = STALE_FOR) -> None:
        self.store = store
        self.stale_for = stale_for

    async def get(self, key: str, *, stale_ok: bool = False) -> ChatResponse | None:
        if self.shared:
            now = time.time()
            return self.decode(await self.store.get_raw(key, None if stale_ok else now), now, stale_ok=stale_ok)
        entry = await self.store.get(key)
        if entry is None:
            return None
        fresh_until, response = entry
        if not stale_ok and fresh_until <= time.time():
            return None
        return response  # type: ignore[no-any-return]

    @property
    def shared(self) -> bool:
        return bool(getattr(self.store, "shared", False))

    @staticmethod
    def decode(raw: bytes | None, now: float, *, stale_ok: bool = False) -> ChatResponse | None:
        """An answer as stored in Redis: ``fresh_until`` and a newline, then the answer's JSON."""
        if raw is None:
            return None
        stamp, _, body = raw.partition(b"\n")
        try:
            fresh_until = float(stamp)
        except ValueError:
            return None
        if not stale_ok and fresh_until <= now:
            return None
        return ChatResponse.model_validate_json(body)

    async def put(self, key: str, response: ChatResponse, ttl: float, *, keep_stale: bool) -> None:
        kept = as_served(response)
        fresh_until = time.time() + ttl
        lifetime = ttl + (self.stale_for if keep_stale else 0.0)
        if self.shared:  # queued: the next round trip (or the write thread) stores it, nobody waits
            self.store.set_raw(key, f"{fresh_until!r}\n{kept.model_dump_json()}", lifetime)
        else:
            await self.store.set(key, (fresh_until, kept), lifetime)


def as_served(response: ChatResponse) -> ChatResponse:
    """An answer as a hit serves it: ``cached``, no latency, and no cost (the usage stays: it is what a hit saves)."""
    zero = Cost(
        total=Decimal(0),
        currency=response.cost.currency if response.cost else "USD",
        provider=response.provider,
        model=response.model,
        priced_by="cache",
    )
    update = {"message_id": None, "conversation_id": None, "cached": True, "latency_ms": 0.0, "cost": zero}
    return response.model_copy(update=update)


_FALLBACK_ERRORS = (errors.ProviderUnavailableError, errors.ProviderTimeoutError, errors.RateLimitError)


class ResponseCacheLayer(Middleware):
    """Answer repeated requests from the cache (see the module docstring).

    One per ``AI`` instance. It caches a call the conversation asked to cache
    (``.cache(ttl, fallback=...)``: the runner puts ``(ttl, fallback)`` in
    ``call.state["cache"]``, either part None for this layer's own), else every call
    when the instance has a ``ttl`` (``AI_RESPONSE_CACHE_TTL``), else none."""

    name = "response_cache"
    order = 50  # outside the budget layer (100): a hit holds and charges nothing
    DEFAULT_TTL = 3600.0
    """Seconds a conversation's ``.cache()`` keeps an answer when neither it nor the instance says."""

    def __init__(
        self,
        cache: ResponseCache,
        *,
        ttl: float | None,
        fallback: bool = False,
        lookup: Callable[[str, ChatRequest, str | None, str | None], Awaitable[bytes | None]] | None = None,
    ) -> None:
        self.cache = cache
        self.ttl = ttl
        self.fallback = fallback
        self.lookup = lookup
        """With Redis, :meth:`ai_core.scale.runtime.Scale.lookup`: the lookup and, on a miss,
        the call's breaker and rate limits, in one round trip."""

    def _setting(self, call: Call) -> tuple[float, bool] | None:
        """(ttl, fallback) for this call, or None when it is not cached."""
        asked: tuple[float | None, bool | None] | None = call.state.get("cache")
        if asked is None:
            return None if self.ttl is None else (self.ttl, self.fallback)
        ttl, fallback = asked
        return (
            ttl if ttl is not None else self.ttl or self.DEFAULT_TTL,
            fallback if fallback is not None else self.fallback,
        )

    async def _find(self, key: str, call: Call) -> ChatResponse | None:
        if self.lookup is None:
            return await self.cache.get(key)
        now = time.time()
        return self.cache.decode(await self.lookup(key, call.request, call.user, call.tenant), now)

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        setting = self._setting(call)
        if setting is None:
            return await call_next(call)
        ttl, fallback = setting
        key = response_key(request_digest(call.request, call.tenant))
        hit = await self._find(key, call)
        if hit is not None:
            return await self._serve(call, hit)
        try:
            response = await call_next(call)
        except _FALLBACK_ERRORS:
            stale = await self.cache.get(key, stale_ok=True) if fallback else None
            if stale is None:
                raise
            return await self._serve(call, stale)
        await self._keep(key, response, ttl, fallback)
        return response

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        setting = self._setting(call)
        return call_next(call) if setting is None else self._cached_stream(call, call_next, *setting)

    async def _cached_stream(
        self, call: Call, call_next: StreamNext, ttl: float, fallback: bool
    ) -> AsyncIterator[StreamEvent]:
        key = response_key(request_digest(call.request, call.tenant))
        hit = await self._find(key, call)
        if hit is None:
            delivered = False
            try:
                async for event in call_next(call):
                    if isinstance(event, StreamCompleted):
                        await self._keep(key, event.response, ttl, fallback)
                    delivered = True
                    yield event
                return
            except _FALLBACK_ERRORS:
                hit = await self.cache.get(key, stale_ok=True) if fallback and not delivered else None
                if hit is None:
                    raise
        served = await self._serve(call, hit)
        if served.reasoning:
            yield ReasoningDelta(served.reasoning)
        if served.text:
            yield TextDelta(served.text)
        yield StreamCompleted(served)

    async def _keep(self, key: str, response: ChatResponse, ttl: float, fallback: bool) -> None:
        if response.finish_reason in ("stop", "tool_calls") and not response.cached:
            await self.cache.put(key, response, ttl, keep_stale=fallback)

    async def _serve(self, call: Call, hit: ChatResponse) -> ChatResponse:
        """The cached answer (kept as served: ``as_served``), on the ledger as a cache hit."""
        turn = call.state.get("turn")
        if turn is None:
            return hit
        # Not shielded (unlike a paid call): a hit cancelled mid-write may leave no row, but nothing was spent.
        message_id = await call.services.store.record_call(turn, hit, outcome="cache_hit", call_id=new_id())
        return updated(hit, message_id=message_id, conversation_id=turn.conversation.id)
