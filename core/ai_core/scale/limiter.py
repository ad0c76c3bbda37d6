"""Rate limits per provider, model, user and tenant, in requests and tokens per minute.

The counting is the ``limits`` library's sliding-window counter (a weighted
pair of fixed windows: constant memory), in memory by default and in Redis when
``AI_REDIS_URL`` is set, so that every process shares one limit. Memory mode
uses the library's in-process storage (plain dictionaries, no I/O, any event
loop). In Redis a call's limits are taken together, with the cache lookup and
the breaker, in one round trip (:mod:`ai_core.scale.shared`, which runs the
library's own Lua on the library's keys); the library's async storage (asyncio)
or blocking one (trio, in a worker thread) only reads a window for ``ai status``
and for how long a spent limit has to go.

A call takes one request from each matching request limit and its estimated
input tokens from each token limit before it is sent; the rest of its tokens
are added when the answer arrives. A call that finds a limit spent waits for it
(at most ``AI_RATE_LIMIT_WAIT`` seconds), else fails with
:class:`~ai_core.errors.RateLimitReachedError` naming the limit and when it frees.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from ai_core import errors
from ai_core.scale.rules import RateLimit

__all__ = ["Limiter", "Slot"]


@dataclass(frozen=True)
class Slot:
    """One limit as it applies to one call: the library item and its identifiers."""

    rule: RateLimit
    kind: str  # "requests" or "tokens"
    subject: str
    item: Any
    identifiers: tuple[str, ...]

    key: str = field(init=False)
    """The library's key for this limit and subject, made once."""
    expiry: int = field(init=False)
    windows: tuple[str, str] = field(init=False)
    """The library's previous and current window keys in Redis."""

    def __post_init__(self) -> None:
        from ai_core.scale.shared import window_keys

        object.__setattr__(self, "key", self.item.key_for(*self.identifiers))
        object.__setattr__(self, "expiry", int(self.item.get_expiry()))
        object.__setattr__(self, "windows", window_keys(self.key))

    def cost(self, tokens: int) -> int:
        """What a call takes from this limit: one request, or its estimated tokens (at most the whole limit)."""
        return 1 if self.kind == "requests" else max(1, min(tokens, self.item.amount))

    @property
    def description(self) -> str:
        return self.rule.describe(self.kind, self.subject)


class Limiter:
    def __init__(self, rules: Sequence[RateLimit], *, wait: float, redis: Any = None) -> None:
        import limits

        self.rules = list(rules)
        self.wait = wait
        self.redis = redis
        self._items: dict[tuple[str, int], Any] = {}
        self._slots: dict[tuple[str, str, str | None, str | None], list[Slot]] = {}
        self._sync_limiter: Any = None
        self._async_limiters: dict[int, tuple[weakref.ref[Any], Any]] = {}
        self._per_minute = limits.RateLimitItemPerMinute
        if redis is None:
            from limits.storage import MemoryStorage
            from limits.strategies import SlidingWindowCounterRateLimiter

            self._sync_limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    # -- which limits apply ------------------------------------------------

    def slots(self, provider: str, model: str, user: str | None, tenant: str | None) -> list[Slot]:
        key = (provider, model, user, tenant)
        found = self._slots.get(key)
        if found is None:
            found = self._slots[key] = self._match(provider, model, user, tenant)
            if len(self._slots) > 4096:  # many users: keep the cache bounded
                self._slots.pop(next(iter(self._slots)))
        return found

    def _match(self, provider: str, model: str, user: str | None, tenant: str | None) -> list[Slot]:
        subjects = {"provider": provider, "model": f"{provider}/{model}", "user": user, "tenant": tenant}
        slots = []
        for index, rule in enumerate(self.rules):
            subject = subjects[rule.scope]
            if subject is None or (rule.name is not None and rule.name != subject):
                continue
            for kind, amount in (("requests", rule.requests_per_minute), ("tokens", rule.tokens_per_minute)):
                if amount is None:
                    continue
                item = self._items.get((kind, amount))
                if item is None:
                    item = self._items[(kind, amount)] = self._per_minute(amount, namespace="ai")
                ids = (rule.scope, subject, kind, str(index))
                slots.append(Slot(rule, kind, subject, item, ids))
        return slots

    # -- the library, memory or Redis ---------------------------------------

    def _limiter(self) -> tuple[Any, bool]:
        """The library's limiter for this loop, and whether its calls are awaitable."""
        if self._sync_limiter is not None:
            return self._sync_limiter, False
        import sniffio

        if sniffio.current_async_library() != "asyncio":  # trio: the blocking storage in a thread
            from limits.storage import RedisStorage
            from limits.strategies import SlidingWindowCounterRateLimiter

            self._sync_limiter = SlidingWindowCounterRateLimiter(RedisStorage(self.redis.secret_url))
            return self._sync_limiter, False
        import asyncio

        loop = asyncio.get_running_loop()
        found = self._async_limiters.get(id(loop))
        if found is None or found[0]() is not loop:
            from limits.aio.storage import RedisStorage as AsyncRedisStorage
            from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncLimiter

            storage = AsyncRedisStorage("async+" + self.redis.secret_url, implementation="redispy")
            found = self._async_limiters[id(loop)] = (weakref.ref(loop), AsyncLimiter(storage))
        return found[1], True

    async def _hit(self, slot: Slot, cost: int) -> bool:
        """The library's sliding-window hit, in memory called on its storage directly with the
        key made once per slot: the strategy would rebuild the key on every call (a third of the CPU)."""
        if self.redis is None:
            storage = self._sync_limiter.storage
            return bool(storage.acquire_sliding_window_entry(slot.key, slot.item.amount, slot.expiry, cost))
        return bool(await self._call("hit", slot, cost=cost))

    async def _call(self, method: str, slot: Slot, *args: Any, **kwargs: Any) -> Any:
        limiter, awaitable = self._limiter()
        function = getattr(limiter, method)
        if self.redis is not None:
            self.redis.round_trips += 1  # one Lua script per call of the library
        try:
            if awaitable:
                return await function(slot.item, *slot.identifiers, *args, **kwargs)
            if self.redis is not None:
                return await anyio.to_thread.run_sync(lambda: function(slot.item, *slot.identifiers, *args, **kwargs))
            return function(slot.item, *slot.identifiers, *args, **kwargs)
        except errors.AIError:
            raise
        except Exception as exc:  # the storage (Redis) failed: say so in our own terms
            where = self.redis.url if self.redis is not None else "memory"
            raise errors.StorageError(f"rate limit storage {where}: {type(exc).__name__}: {exc}") from exc

    # -- a call ------------------------------------------------------------

    async def admit(self, provider: str, model: str, user: str | None, tenant: str | None, tokens: int) -> list[Slot]:
        """Take this call's share of every matching limit, waiting for spent ones
        at most ``wait`` seconds in all. Returns the limits taken."""
        slots = self.slots(provider, model, user, tenant)
        if not slots:
            return slots
        pending = list(slots)
        started = time.monotonic()
        while pending:
            slot = pending[0]
            if await self._hit(slot, slot.cost(tokens)):
                pending.pop(0)
                continue
            await self.wait_for(slot, started, provider)
        return slots

    async def wait_for(self, slot: Slot, started: float, provider: str) -> None:
        """``slot`` is spent: sleep until it frees, or raise if that is past the wait allowed."""
        frees_in = await self._frees_in(slot)
        waited = time.monotonic() - started
        if waited + frees_in > self.wait:
            raise errors.RateLimitReachedError(
                f"rate limit reached: {slot.description}; frees in {frees_in:.1f}s",
                limit=slot.description,
                retry_after=frees_in,
                provider=provider,
            )
        await anyio.sleep(max(0.01, frees_in))

    @staticmethod
    def shared_args(slots: Sequence[Slot], tokens: int) -> list[tuple[str, str, int, int, int]]:
        """The limits as :func:`ai_core.scale.shared.script` takes them."""
        return [(*slot.windows, slot.item.amount, slot.expiry, slot.cost(tokens)) for slot in slots]

    async def settle(self, slots: Sequence[Slot], estimated: int, used: int) -> None:
        """Add the tokens the answer used beyond the estimate taken at admission
        (in Redis: queued for the next round trip, nobody waits for it)."""
        extra = used - estimated
        if extra <= 0:
            return
        if self.redis is not None:
            for slot in slots:
                if slot.kind == "tokens":
                    self.redis.defer(
                        ("fill", *slot.windows, slot.item.amount, slot.expiry, min(extra, slot.item.amount))
                    )
            return
        for slot in slots:
            if slot.kind == "tokens" and not await self._hit(slot, min(extra, slot.item.amount)):
                # More than the window has left: the call happened, so fill it (later calls wait).
                left = int((await self._call("get_window_stats", slot)).remaining)
                if left > 0:
                    await self._hit(slot, left)

    async def _frees_in(self, slot: Slot) -> float:
        """Seconds until the window should have room again (at least a little)."""
        stats = await self._call("get_window_stats", slot)
        return max(0.05, min(60.0, float(stats.reset_time) - time.time()))

    async def usage(self) -> list[dict[str, Any]]:
        """Every named limit with what is left of it now (for ``ai status``)."""
        rows = []
        for slot in self._named_slots():
            stats = await self._call("get_window_stats", slot)
            rows.append(
                {
                    "limit": slot.description,
                    "scope": slot.rule.scope,
                    "subject": slot.subject,
                    "kind": slot.kind,
                    "per_minute": slot.item.amount,
                    "remaining": int(stats.remaining),
                }
            )
        return rows

    def _named_slots(self) -> list[Slot]:
        slots = []
        for rule in self.rules:
            if rule.name is None:
                continue
            if rule.scope == "model":
                provider, _, model = rule.name.partition("/")
                found = self._match(provider, model, None, None)
            elif rule.scope == "provider":
                found = self._match(rule.name, "-", None, None)
            elif rule.scope == "user":
                found = self._match("-", "-", rule.name, None)
            else:
                found = self._match("-", "-", None, rule.name)
            slots += [slot for slot in found if slot.rule is rule]
        return slots
