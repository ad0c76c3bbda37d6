"""Resolve ``provider/model`` to a configured driver, and call it resiliently.

Drivers are cached per provider, per credentials and per event loop: an HTTP
pool belongs to the loop that made it, and one ``AI`` may be used from a sync
caller (its own loop thread) and from async code at once. Credentials given at
run time (one tenant's key) get their own driver without touching any global.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import SecretStr

from ai_core import errors
from ai_core.drivers.base import Driver, ProviderConfig, ProviderSpec
from ai_core.drivers.deadlines import CallDeadline
from ai_core.events.types import CircuitOpened, ProviderSwitched, RequestFailed
from ai_core.pipeline.capabilities import build_driver, refuse_unsupported
from ai_core.pipeline.resilience import CircuitBreaker, RetryPolicy
from ai_core.scale.runtime import Admission, Scale
from ai_core.types import ChatRequest, ChatResponse, ModelInfo, StreamCompleted, StreamEvent

if TYPE_CHECKING:
    from ai_core.plugins import PluginRegistry
    from ai_core.services import Services

__all__ = ["ProviderManager", "split_model"]


def split_model(model: str, default_provider: str | None = None) -> tuple[str, str]:
    """``"openai/gpt-4o"`` -> ``("openai", "gpt-4o")``; split at the first slash,
    so model ids with slashes (``"ollama/library/llama3"``) survive."""
    provider, sep, name = model.partition("/")
    if sep and provider and name:
        return provider, name
    if not sep and default_provider:
        return default_provider, model
    raise errors.RequestValidationError(f"model must be 'provider/model', got {model!r}")


def _loop_token() -> Any:
    """An object identifying the running event loop (asyncio or trio)."""
    import sniffio

    library = sniffio.current_async_library()
    if library == "trio":
        import trio

        return trio.lowlevel.current_root_task()
    import asyncio

    return asyncio.get_running_loop()


class ProviderManager:
    def __init__(
        self,
        services: Services,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        drivers: Mapping[str, Driver] | None = None,
    ) -> None:
        self.services = services
        self._overrides = {name: dict(values) for name, values in (overrides or {}).items()}
        self._fixed = dict(drivers or {})
        self._cache: OrderedDict[tuple[Any, ...], tuple[weakref.ref[Any], Driver]] = OrderedDict()
        self._configs: OrderedDict[tuple[Any, ...], tuple[ProviderConfig, RetryPolicy]] = OrderedDict()
        self._fixed_policy = RetryPolicy(attempts=services.settings.retry_attempts)
        self.breaker = CircuitBreaker()
        # Rate limits, a provider's own rate-limit headers, and with AI_REDIS_URL a breaker
        # every process shares (ai_core.scale); nothing configured costs two attribute reads a call.
        self.scale = Scale(services.settings)
        self.shared_breaker = self.scale.shared_breaker
        self.max_drivers = 256

    # -- test seams --------------------------------------------------------

    def override(self, provider: str, driver: Driver) -> Callable[[], None]:
        """Serve ``provider`` with ``driver`` until the returned function is called.

        For tests (``ai_core.testing.override_provider``): an existing ``AI``
        talks to a fake instead of the real provider, without patching. The
        restore function puts back whatever was there; overrides nest.
        """
        missing = object()
        previous: Any = self._fixed.get(provider, missing)
        self._fixed[provider] = driver

        def restore() -> None:
            if previous is missing:
                self._fixed.pop(provider, None)
            else:
                self._fixed[provider] = previous

        return restore

    # -- resolution --------------------------------------------------------

    def spec(self, provider: str) -> ProviderSpec:
        specs = self.services.registry.providers()
        spec = specs.get(provider)
        if spec is None:
            if provider in self._fixed:
                return ProviderSpec(name=provider, driver=lambda cfg: self._fixed[provider], requires_api_key=False)
            raise errors.UnknownProviderError(provider, list(specs) + list(self._fixed))
        return spec

    def config(
        self, provider: str, overrides: Mapping[str, Any] | None = None, *, api_key: SecretStr | None = None
    ) -> ProviderConfig:
        """Merge run-time overrides over the environment and config file.

        Time limits resolve per provider, then globally: ``timeout``
        (``AI_<P>_TIMEOUT``, then ``AI_TIMEOUT``); ``stream_idle_timeout``
        (``AI_<P>_STREAM_IDLE_TIMEOUT``, ``AI_STREAM_IDLE_TIMEOUT``, else the
        resolved ``timeout``); ``total_timeout`` (``AI_<P>_TOTAL_TIMEOUT``,
        ``AI_TOTAL_TIMEOUT``). A run-time value that is not a positive number
        of seconds is a :class:`~ai_core.errors.ConfigurationError` naming it.
        """
        import math

        spec = self.spec(provider)
        settings = self.services.settings
        found = settings.provider(provider, spec.api_key_env)
        merged: dict[str, Any] = {**self._overrides.get(provider, {}), **(overrides or {})}
        key = merged.pop("api_key", None)
        key = key if isinstance(key, SecretStr) or key is None else SecretStr(str(key))
        options = merged.pop("options", {})
        transport = merged.pop("transport", None)
        unknown = set(merged) - {"base_url", "timeout", "stream_idle_timeout", "total_timeout", "retry_attempts"}
        if unknown:
            raise errors.ConfigurationError(f"unknown provider settings for {provider!r}: {sorted(unknown)}")

        def seconds(name: str) -> float | None:
            value = merged.get(name)
            if value is None:
                return None
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not (math.isfinite(number) and number > 0):
                raise errors.ConfigurationError(
                    f"providers[{provider!r}][{name!r}] must be a positive number of seconds, got {value!r}"
                )
            return number

        timeout = seconds("timeout") or found.timeout or settings.timeout
        return ProviderConfig(
            provider=provider,
            api_key=key or found.api_key or api_key,
            base_url=merged.get("base_url") or found.base_url or spec.default_base_url,
            timeout=timeout,
            stream_idle_timeout=seconds("stream_idle_timeout")
            or found.stream_idle_timeout
            or settings.stream_idle_timeout
            or timeout,
            total_timeout=seconds("total_timeout") or found.total_timeout or settings.total_timeout,
            retry_attempts=int(
                merged["retry_attempts"]
                if merged.get("retry_attempts") is not None
                else found.retry_attempts
                if found.retry_attempts is not None
                else settings.retry_attempts
            ),
            transport=transport,
            options=dict(options),
        )

    def _resolved(self, provider: str, overrides: Mapping[str, Any] | None) -> tuple[ProviderConfig, RetryPolicy]:
        """Config and retry policy, resolved once per provider and override set.

        Settings are read when an instance first uses a provider; the hot path
        then costs a dict lookup instead of re-reading the environment.
        """
        key = (provider, _overrides_key(overrides))
        found = self._configs.get(key)
        if found is None:
            config = self.config(provider, overrides)
            found = self._configs[key] = (config, RetryPolicy(attempts=config.retry_attempts))
            while len(self._configs) > self.max_drivers * 4:
                self._configs.popitem(last=False)
        return found

    async def driver(
        self, provider: str, overrides: Mapping[str, Any] | None = None, *, tenant: str | None = None
    ) -> Driver:
        fixed = self._fixed.get(provider)
        if fixed is not None:
            return fixed
        loop = _loop_token()
        cache_key = (provider, _overrides_key(overrides), tenant, id(loop))
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0]() is loop:
            self._cache.move_to_end(cache_key)
            return cached[1]
        config, _ = self._resolved(provider, overrides)
        spec = self.spec(provider)
        if config.api_key is None and spec.requires_api_key:
            stored = await self._stored_key(provider, tenant)
            if stored is None:
                raise errors.MissingCredentialsError(provider, (f"AI_{provider.upper()}_API_KEY", *spec.api_key_env))
            config = ProviderConfig(**{**config.__dict__, "api_key": stored})
        driver = build_driver(spec, config)  # the spec's capabilities are the driver's
        if hasattr(driver, "header_observer"):  # HTTP drivers tell us the provider's remaining limits
            driver.header_observer = self.scale.headroom.observe
        self._cache[cache_key] = (weakref.ref(loop), driver)
        await self._evict(loop)
        return driver

    async def _evict(self, loop: Any) -> None:
        """Keep at most ``max_drivers`` pooled drivers (one per provider, tenant key
        and loop): a multi-tenant server must not keep a pool per key forever.
        Drivers of the running loop are closed; others are dropped to the GC,
        since their pools cannot be closed from here."""
        while len(self._cache) > self.max_drivers:
            _, (owner, evicted) = self._cache.popitem(last=False)
            if owner() is loop:
                try:
                    await evicted.aclose()
                except Exception:  # closing is best effort; the driver is gone either way
                    pass

    async def _stored_key(self, provider: str, tenant: str | None) -> SecretStr | None:
        """The last resort: a credential stored with ``ai keys set`` (audited)."""
        database = self.services.database
        if database is None:
            return None
        from ai_core.credentials.keys import KeyConfig
        from ai_core.credentials.store import lookup_api_key

        keys = KeyConfig.from_settings(self.services.settings)
        result: SecretStr | None = await lookup_api_key(database, provider, None, tenant, keys=keys)
        return result

    async def list_models(self, provider: str, *, fresh: bool = False) -> list[ModelInfo]:
        """The models ``provider`` itself says it serves (``Driver.list_models``), cached
        an hour under ``ai:models:{provider}`` (in Redis, for every process, when
        ``AI_REDIS_URL`` is set); ``fresh=True`` asks the provider again."""
        from ai_core.scale.cache import MODELS_TTL, models_key

        store, key = self.scale.store, models_key(provider)
        if not fresh:
            found = await store.get(key)
            if found is not None:
                return [ModelInfo.model_validate(item) for item in found]
        models = list(await (await self.driver(provider)).list_models())
        await store.set(key, [model.model_dump(mode="json") for model in models], MODELS_TTL)
        return models

    # -- calling -----------------------------------------------------------

    def _given_specs(self, provider: str) -> PluginRegistry | None:
        """For a driver given directly (``AI(drivers=...)``, ``override_provider``), the
        registry whose ``ProviderSpec`` still declares the provider's capabilities."""
        return self.services.registry if provider in self._fixed else None

    def _total_timeout(self, provider: str, overrides: Mapping[str, Any] | None) -> float:
        if provider in self._fixed:
            return self.services.settings.total_timeout
        return self._resolved(provider, overrides)[0].total_timeout

    def _retry_policy(self, provider: str, overrides: Mapping[str, Any] | None) -> RetryPolicy:
        if provider in self._fixed:
            return self._fixed_policy
        return self._resolved(provider, overrides)[1]

    async def send(
        self,
        request: ChatRequest,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        fallbacks: Sequence[str] = (),
        tenant: str | None = None,
        conversation_id: str | None = None,
        failures: list[tuple[str, str, BaseException]] | None = None,
        user: str | None = None,
    ) -> ChatResponse:
        """Call the request's provider with retries, then each fallback in turn.

        Every failed attempt is appended to ``failures`` (provider, model, error)
        so the caller can record it; when the call fails, the last one is the
        error raised."""
        plan = _Plan(self, request, overrides, fallbacks, conversation_id, failures)
        for candidate, provider_overrides in plan:
            attempt = 0
            while True:
                attempt += 1
                try:
                    admission = await self._admit(candidate, tenant, user)
                    driver = await self.driver(candidate.provider, provider_overrides, tenant=tenant)
                    refuse_unsupported(driver, candidate, self._given_specs(candidate.provider))
                    response = await plan.deadline.run(driver.send, candidate, provider=candidate.provider)
                except errors.RateLimitReachedError as exc:  # our own limit: waited already; try a fallback
                    plan.refused(candidate, exc, attempt)
                    break
                except errors.ProviderError as exc:
                    if await plan.retry(candidate, provider_overrides, exc, attempt):
                        continue
                    break
                await self._succeeded(candidate.provider, admission, response)
                return response
        raise plan.last_error()

    async def stream(
        self,
        request: ChatRequest,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        fallbacks: Sequence[str] = (),
        tenant: str | None = None,
        conversation_id: str | None = None,
        failures: list[tuple[str, str, BaseException]] | None = None,
        user: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream with retries and fallbacks, but only before the first event:
        once text has reached the caller, a failure is raised, not replayed.
        ``failures`` as for :meth:`send`."""
        plan = _Plan(self, request, overrides, fallbacks, conversation_id, failures)
        for candidate, provider_overrides in plan:
            attempt = 0
            while True:
                attempt += 1
                started = False
                final: ChatResponse | None = None
                try:
                    admission = await self._admit(candidate, tenant, user)
                    driver = await self.driver(candidate.provider, provider_overrides, tenant=tenant)
                    refuse_unsupported(driver, candidate, self._given_specs(candidate.provider))
                    # Closed here when the caller stops early, not when collected,
                    # so the connection goes back to the pool at once.
                    events = plan.deadline.stream(driver, candidate)
                    async with aclosing(events):
                        async for event in events:
                            started = True
                            if isinstance(event, StreamCompleted):
                                final = event.response
                            yield event
                except errors.RateLimitReachedError as exc:
                    plan.refused(candidate, exc, attempt)
                    break
                except errors.ProviderError as exc:
                    if started:
                        await plan.record(candidate, exc, attempt)
                        raise
                    if await plan.retry(candidate, provider_overrides, exc, attempt):
                        continue
                    break
                await self._succeeded(candidate.provider, admission, final)
                return
        raise plan.last_error()

    # -- breaker and limits around each attempt -------------------------------

    async def _admit(self, request: ChatRequest, tenant: str | None, user: str | None) -> Admission | None:
        """Before an attempt: the breaker (this process's, or the one every process
        shares), then the rate limits and the provider's own headroom. With Redis the
        breaker and the limits are one round trip (ai_core.scale.shared)."""
        scale = self.scale
        due = scale.prices_due.get((request.provider, request.model))
        if due is None or due <= time.monotonic():  # a model's stored prices: on its first call, then daily
            await scale.lookup_prices(self.services, request.provider, request.model)
        if self.shared_breaker is not None:
            return await scale.admit_shared(request, user, tenant)
        self.breaker.check(request.provider)
        if scale.limiter is None and not scale.headroom.blocked:
            return None
        return await scale.admit(request, user, tenant)

    async def _succeeded(self, provider: str, admission: Admission | None, response: ChatResponse | None) -> None:
        if self.shared_breaker is not None:
            await self.shared_breaker.arecord_success(provider)
        else:
            self.breaker.record_success(provider)
        if admission is not None:
            await self.scale.settle(admission, response.usage.total_tokens if response is not None else 0)

    async def _breaker_failure(self, provider: str, exc: BaseException) -> None:
        if self.shared_breaker is not None:
            opened = await self.shared_breaker.arecord_failure(provider, exc)
            threshold, cooldown = self.shared_breaker.threshold, self.shared_breaker.cooldown
        else:
            was_open = self.breaker.is_open(provider)
            self.breaker.record_failure(provider, exc)
            opened = not was_open and self.breaker.is_open(provider)
            threshold, cooldown = self.breaker.threshold, self.breaker.cooldown
        events = self.services.events
        if opened and events.wants(CircuitOpened):
            events.emit(CircuitOpened(
                provider=provider, failures=threshold, cooldown_seconds=cooldown, error_type=type(exc).__name__,
            ))  # fmt: skip

    def _breaker_open(self, provider: str) -> bool:
        breaker = self.shared_breaker if self.shared_breaker is not None else self.breaker
        return bool(breaker.is_open(provider))

    def _failed(self, request: ChatRequest, exc: BaseException, attempt: int, conversation_id: str | None) -> None:
        events = self.services.events
        if events.wants(RequestFailed):
            events.emit(
                RequestFailed(
                    conversation_id=conversation_id,
                    provider=request.provider,
                    model=request.model,
                    error_type=type(exc).__name__,
                    message=str(exc),
                    attempt=attempt,
                )
            )

    def _switched(self, previous: ChatRequest, current: ChatRequest, error: BaseException | None) -> None:
        events = self.services.events
        if events.wants(ProviderSwitched):
            events.emit(
                ProviderSwitched(
                    from_model=previous.qualified_model,
                    to_model=current.qualified_model,
                    reason=f"{type(error).__name__}: {error}" if error else "fallback",
                )
            )

    async def aclose(self) -> None:
        await self.scale.aclose()
        drivers = [driver for _, driver in self._cache.values()]
        self._cache.clear()
        for driver in drivers:
            try:
                await driver.aclose()
            except Exception:  # closing a pool bound to a finished loop can fail; nothing to release then
                pass


class _Plan:
    """The models one call may use, in order, and what happens after a failure:
    the request's own model (with its retries), then each fallback."""

    def __init__(
        self,
        manager: ProviderManager,
        request: ChatRequest,
        overrides: Mapping[str, Mapping[str, Any]] | None,
        fallbacks: Sequence[str],
        conversation_id: str | None,
        failures: list[tuple[str, str, BaseException]] | None = None,
    ) -> None:
        self.manager = manager
        self.failures = failures if failures is not None else []
        self.candidates = [request, *(_retarget(request, model) for model in fallbacks)]
        self.overrides = overrides or {}
        self.conversation_id = conversation_id
        self.error: BaseException | None = None
        # One deadline for the whole call: every attempt, back-off and fallback (ai_core.drivers.deadlines).
        total = manager._total_timeout(request.provider, self.overrides.get(request.provider))
        self.deadline = CallDeadline.after(total)

    def __iter__(self) -> Iterator[tuple[ChatRequest, Mapping[str, Any] | None]]:
        for index, candidate in enumerate(self.candidates):
            if index:
                self.manager._switched(self.candidates[index - 1], candidate, self.error)
            yield candidate, self.overrides.get(candidate.provider)

    async def record(self, candidate: ChatRequest, exc: errors.ProviderError, attempt: int) -> None:
        self.refused(candidate, exc, attempt)
        await self.manager._breaker_failure(candidate.provider, exc)

    def refused(self, candidate: ChatRequest, exc: errors.ProviderError, attempt: int) -> None:
        """A failed attempt, or one our own rate limit refused (no breaker counts that)."""
        self.error = exc
        self.failures.append((candidate.provider, candidate.model, exc))
        self.manager._failed(candidate, exc, attempt, self.conversation_id)

    async def retry(
        self, candidate: ChatRequest, overrides: Mapping[str, Any] | None, exc: errors.ProviderError, attempt: int
    ) -> bool:
        """Record the failure; wait and return True when the same model should be tried again."""
        await self.record(candidate, exc, attempt)
        policy = self.manager._retry_policy(candidate.provider, overrides)
        delay = policy.delay(exc, attempt)
        if (
            policy.should_retry(exc, attempt)
            and delay <= policy.max_delay  # a longer Retry-After: not worth waiting here; fall back instead
            and not self.manager._breaker_open(candidate.provider)
            and self.deadline.allows(delay)
        ):
            await anyio.sleep(delay)
            return True
        return False

    def last_error(self) -> BaseException:
        assert self.error is not None
        return self.error


def _retarget(request: ChatRequest, model: str) -> ChatRequest:
    """The request for fallback ``model``. ``provider_options`` are one provider's own fields
    (Ollama's ``keep_alive``, Gemini's ``safetySettings``): they go to a fallback of the same
    provider only, never to another one, which would refuse them or take them for its own."""
    provider, name = split_model(model)
    if provider != request.provider and request.provider_options:
        return request.model_copy(update={"provider": provider, "model": name, "provider_options": {}})
    return request.model_copy(update={"provider": provider, "model": name})


def _overrides_key(overrides: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """A hashable key for run-time overrides (secrets stay in memory, never in a repr)."""
    if not overrides:
        return None
    return tuple(sorted((name, _hashable(value)) for name, value in overrides.items()))


def _hashable(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return ("secret", value.get_secret_value())
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, Mapping):
        return _overrides_key(value)
    return ("object", id(value))
