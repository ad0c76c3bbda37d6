"""What one ``AI`` instance uses to scale past one process: limits, learned headroom,
the shared breaker, the caches and the Redis connection behind them.

Built from settings when the instance is made, importing nothing heavy unless a
feature is on: with no limits, no Redis and no cache configured, a call pays a
couple of attribute reads for all of this.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ai_core.errors import StorageError
from ai_core.scale.headroom import Headroom
from ai_core.scale.rules import as_rules

if TYPE_CHECKING:
    from ai_core.config import Settings
    from ai_core.scale.cache import ResponseCache, ResponseCacheLayer
    from ai_core.scale.limiter import Limiter, Slot
    from ai_core.services import Services
    from ai_core.types import ChatRequest

__all__ = ["PRICES_TTL", "Admission", "Scale"]

PRICES_TTL = 86400.0
"""A model's stored prices (``ai models sync --prices``, by any process) are looked up again this often."""


class Admission:
    """The limits one call took, settled with its real token count when it is answered."""

    __slots__ = ("estimated", "slots")

    def __init__(self, slots: list[Slot], estimated: int) -> None:
        self.slots = slots
        self.estimated = estimated


def estimate_tokens(request: ChatRequest) -> int:
    """A cheap guess of the prompt's tokens (4 characters a token) for token limits."""
    chars = len(request.system or "")
    for message in request.messages:
        chars += len(message.text)
    return chars // 4 + 1


class Scale:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis: Any = None
        if settings.redis_url is not None:
            from ai_core.scale.redis import RedisConnection

            self.redis = RedisConnection(settings.redis_url)
        rules = as_rules(settings.rate_limits)
        self.limiter: Limiter | None = None
        if rules:
            from ai_core.scale.limiter import Limiter

            self.limiter = Limiter(rules, wait=settings.rate_limit_wait, redis=self.redis)
        self.headroom = Headroom()
        self.shared_breaker: Any = None
        if self.redis is not None:
            from ai_core.scale.breaker import SharedCircuitBreaker

            self.shared_breaker = SharedCircuitBreaker(self.redis)
        self._store: Any = None
        self._responses: ResponseCache | None = None
        self._preadmitted: dict[tuple[str, str, str | None, str | None], list[tuple[float, Admission, int]]] = {}
        """Admissions the response cache's round trip took on a miss, for the provider manager."""
        self.prices_due: dict[tuple[str, str], float] = {}
        """When each model's prices are looked up again (:meth:`lookup_prices`)."""
        self._price_store: Any = None
        self._table_read_at: float | None = None
        self._response_layer: ResponseCacheLayer | None = None

    # -- caches ------------------------------------------------------------

    @property
    def store(self) -> Any:
        """The key-value store for the ``ai:*`` caches: Redis when configured, else a bounded LRU."""
        if self._store is None:
            from ai_core.scale.cache import MemoryCache, RedisCache

            self._store = (
                RedisCache(self.redis) if self.redis is not None else MemoryCache(self.settings.response_cache_size)
            )
        return self._store

    @property
    def responses(self) -> ResponseCache:
        if self._responses is None:
            from ai_core.scale.cache import ResponseCache

            self._responses = ResponseCache(self.store)
        return self._responses

    def response_layer(self) -> ResponseCacheLayer:
        """This instance's response-cache layer: it caches every call when
        ``AI_RESPONSE_CACHE_TTL`` is set, else only those of conversations that ask
        (``.cache(ttl)``, which the runner passes on the call)."""
        if self._response_layer is None:
            from ai_core.scale.cache import ResponseCacheLayer

            self._response_layer = ResponseCacheLayer(
                self.responses,
                ttl=self.settings.response_cache_ttl,
                fallback=self.settings.response_cache_fallback,
                lookup=self.lookup if self.redis is not None else None,
            )
        return self._response_layer

    # -- one provider attempt ----------------------------------------------

    async def admit(self, request: ChatRequest, user: str | None, tenant: str | None) -> Admission | None:
        """Before an attempt: wait out a provider that said it is spent, take the limits."""
        if self.headroom.blocked:
            await self.headroom.wait(request.provider, self.settings.rate_limit_wait)
        if self.limiter is None:
            return None
        estimated = estimate_tokens(request)
        slots = await self.limiter.admit(request.provider, request.model, user, tenant, estimated)
        return Admission(slots, estimated) if slots else None

    # -- with Redis: one round trip per call -------------------------------------

    async def lookup(self, key: str, request: ChatRequest, user: str | None, tenant: str | None) -> bytes | None:
        """The response cache's lookup in Redis. On a miss the same round trip reads the
        breaker and takes the call's rate limits; the provider manager's :meth:`admit_shared`
        then uses that admission instead of asking Redis again."""
        assert self.redis is not None
        breaker = self.shared_breaker
        slots = self.limiter.slots(request.provider, request.model, user, tenant) if self.limiter is not None else []
        estimated = estimate_tokens(request) if slots else 0
        args = self.limiter.shared_args(slots, estimated) if self.limiter is not None else []
        reply = await self.redis.round_trip(key, breaker.args(request.provider), args, fresh_at=time.time())
        if reply.kind == "hit":
            return reply.value  # type: ignore[no-any-return]
        breaker.observe(request.provider, reply, refuse=False)  # the provider manager refuses, from the mirror
        if reply.kind == "ok":
            if len(self._preadmitted) > 1024:  # admissions nobody used (a budget refused the call): drop
                self._preadmitted.clear()
            entry = (time.monotonic(), Admission(slots, estimated), reply.taken)
            self._preadmitted.setdefault((request.provider, request.model, user, tenant), []).append(entry)
        return None

    async def admit_shared(self, request: ChatRequest, user: str | None, tenant: str | None) -> Admission | None:
        """Before an attempt, with Redis: the breaker and every limit in one round trip
        (none when the response cache's lookup took them already)."""
        provider, breaker = request.provider, self.shared_breaker
        if self.headroom.blocked:
            await self.headroom.wait(provider, self.settings.rate_limit_wait)
        found = self._take_preadmitted((provider, request.model, user, tenant)) if self._preadmitted else None
        if found is not None:
            _, admission, taken = found
            if taken == len(admission.slots):
                return admission if admission.slots else None
        else:
            breaker.refuse_if_open(provider)  # as the cache lookup's round trip found it, if it just did
            slots = self.limiter.slots(provider, request.model, user, tenant) if self.limiter is not None else []
            if not slots:
                await breaker.acheck(provider)  # from the mirror: a round trip at most once a second
                return None
            admission, taken = Admission(slots, estimate_tokens(request)), -1
        assert self.limiter is not None
        slots, started = admission.slots, time.monotonic()
        if taken >= 0:  # the lookup found this limit spent: wait for it first
            await self.limiter.wait_for(slots[taken], started, provider)
        else:
            taken = 0
        while True:
            args = self.limiter.shared_args(slots[taken:], admission.estimated)
            reply = await self.redis.round_trip(None, breaker.args(provider), args)
            breaker.observe(provider, reply)
            taken += reply.taken
            if taken == len(slots):
                return admission
            await self.limiter.wait_for(slots[taken], started, provider)

    def _take_preadmitted(self, key: tuple[str, str, str | None, str | None]) -> tuple[float, Admission, int] | None:
        """One admission the lookup took for a call like this one (concurrent calls each leave one)."""
        waiting = self._preadmitted.get(key)
        while waiting:
            found = waiting.pop(0)
            if not waiting:
                del self._preadmitted[key]
            if time.monotonic() - found[0] < 10.0:
                return found
        return None

    async def settle(self, admission: Admission | None, used: int) -> None:
        if admission is not None and self.limiter is not None:
            try:
                await self.limiter.settle(admission.slots, admission.estimated, used)
            except StorageError as exc:  # the call was answered: it must reach the ledger regardless
                from ai_core.logging import get_logger

                get_logger("ai_core.scale").error("rate_limit_not_settled", error=str(exc))

    async def lookup_prices(self, services: Services, provider: str, model: str) -> None:
        """A model's stored prices, looked up on its first call and again once a day.

        The book starts with the plugins' tables and the rows stored when the instance was
        made; rows another process stored since (``ai models sync --prices``) are read
        through the design's ``ai:costs:{provider}:{model}`` keys, kept 24 hours: in Redis
        when configured, so that one read of the price table a day serves every process
        (the first process to miss fills every model's key), else in this process.
        In the event loop's thread, so that the book never changes while a call reads it."""
        from ai_core.scale.cache import costs_key

        now = time.monotonic()
        due = now + PRICES_TTL
        self.prices_due[(provider, model)] = due
        database = services.database
        if database is None:
            return
        from ai_core.storage.catalog import merge_prices, read_prices
        from ai_core.types import ModelPrice

        store = self.price_store
        try:
            found = await store.get(costs_key(provider, model))
            if found is not None:
                merge_prices(services.prices, (ModelPrice.model_validate(row) for row in found))
                return
            if self._table_read_at is not None and now - self._table_read_at < PRICES_TTL:
                # This process read the whole table less than a day ago, and the model had no rows:
                # it is looked up again when that read is a day old (at most one read a day).
                self.prices_due[(provider, model)] = self._table_read_at + PRICES_TTL
                return
            rows = read_prices(database)
            self._table_read_at = now
        except Exception as exc:  # stale prices beat a failed call; the next day tries again
            from ai_core.logging import get_logger

            get_logger("ai_core.scale").warning("prices_not_refreshed", error=f"{type(exc).__name__}: {exc}")
            return
        merge_prices(services.prices, rows)
        by_model: dict[tuple[str, str], list[Any]] = {(provider, model): []}
        for row in rows:
            by_model.setdefault((row.provider, row.model), []).append(row.model_dump(mode="json"))
        for (each_provider, each_model), kept in by_model.items():
            await store.set(costs_key(each_provider, each_model), kept, PRICES_TTL)
            self.prices_due[(each_provider, each_model)] = due

    @property
    def price_store(self) -> Any:
        """Where ``ai:costs:*`` live: the Redis store, or an LRU of this process's own."""
        if self._price_store is None:
            if self.redis is not None:
                self._price_store = self.store
            else:
                from ai_core.scale.cache import MemoryCache

                self._price_store = MemoryCache(100_000)
        return self._price_store

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
