"""The driver contract, and the HTTP base class most drivers extend.

A driver speaks one wire dialect; a :class:`ProviderSpec` names a provider that
uses it (base URL, key variables, capabilities). Core builds drivers from specs
with a :class:`ProviderConfig`, so one driver class serves every provider and
tenant that shares its dialect.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import SecretStr

from ai_core import errors
from ai_core.drivers.deadlines import CallDeadline, bounded_chunks, idle_error, seconds
from ai_core.types import Capabilities, ChatRequest, ChatResponse, ModelInfo, StreamEvent

__all__ = ["Driver", "DriverFactory", "HTTPDriver", "ProviderConfig", "ProviderSpec"]


@dataclass(frozen=True)
class ProviderConfig:
    """Resolved settings for one provider (and possibly one tenant).

    The key is a :class:`~pydantic.SecretStr`, so it never shows in a repr.
    Time limits, in seconds (see :mod:`ai_core.drivers.deadlines`): ``timeout``
    bounds the wait for a response to start, streamed or not;
    ``stream_idle_timeout`` each gap between chunks; ``total_timeout`` the
    whole call, retries included. ``transport`` is an httpx-compatible async
    transport instance, or a factory (any callable returning one) called once
    per event loop.
    """

    provider: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout: float = 60.0
    stream_idle_timeout: float = 60.0
    retry_attempts: int = 2
    transport: Any = None
    total_timeout: float = 600.0
    options: dict[str, Any] = field(default_factory=dict)

    def require_key(self, variables: tuple[str, ...] = ()) -> str:
        if self.api_key is None or not self.api_key.get_secret_value():
            raise errors.MissingCredentialsError(self.provider, variables)
        return self.api_key.get_secret_value()


DriverFactory = Callable[[ProviderConfig], "Driver"]


@dataclass(frozen=True)
class ProviderSpec:
    """A provider a plugin registers through ``register_providers``.

    ``driver`` is a factory taking a :class:`ProviderConfig`, or an import string
    ``"package.module:Factory"`` so the plugin's HTTP code loads only on use.
    """

    name: str
    driver: DriverFactory | str
    capabilities: Capabilities = field(default_factory=Capabilities)
    default_base_url: str | None = None
    api_key_env: tuple[str, ...] = ()
    requires_api_key: bool = True
    description: str = ""
    default_model: str | None = None

    def load_factory(self) -> DriverFactory:
        if callable(self.driver):
            return self.driver
        import importlib

        module_name, _, attr = self.driver.partition(":")
        try:
            target = importlib.import_module(module_name)
            for part in (attr or "Driver").split("."):
                target = getattr(target, part)
        except Exception as exc:  # a broken plugin is a typed error, never a crash
            raise errors.PluginLoadError(self.name, None, f"cannot import driver {self.driver!r}: {exc}") from exc
        return target  # type: ignore[return-value]


class Driver(ABC):
    """What core needs from a provider. Implement ``send`` and ``stream``.

    ``stream`` yields deltas and ends with exactly one
    :class:`~ai_core.types.StreamCompleted` whose response equals what ``send``
    would return for the same call, usage included.
    """

    provider: str = ""
    capabilities: Capabilities = Capabilities()

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.provider = config.provider

    @abstractmethod
    async def send(self, request: ChatRequest) -> ChatResponse: ...

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def send_batch(
        self, requests: Sequence[ChatRequest], *, concurrency: int = 8
    ) -> list[ChatResponse | errors.AIError]:
        """Send many requests, at most ``concurrency`` at once, results in order.

        A failed request yields its error in place instead of failing the batch.
        """
        results: list[ChatResponse | errors.AIError | None] = [None] * len(requests)
        limiter = anyio.Semaphore(max(1, concurrency))

        async def one(index: int, request: ChatRequest) -> None:
            async with limiter:
                try:
                    results[index] = await self.send(request)
                except errors.AIError as exc:
                    results[index] = exc

        async with anyio.create_task_group() as tg:
            for index, request in enumerate(requests):
                tg.start_soon(one, index, request)
        return [r for r in results if r is not None]

    async def list_models(self) -> list[ModelInfo]:
        """Ask the provider which models it serves (used by ``ai models sync``)."""
        return []

    async def validate_credentials(self) -> bool:
        """True when the configured key is accepted; must not spend tokens."""
        return True

    async def aclose(self) -> None:  # noqa: B027 - optional hook; drivers without pools need nothing
        """Release pooled connections."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider={self.provider!r}>"


class HTTPDriver(Driver):
    """A driver over one pooled HTTP client, with error mapping and timeouts.

    Subclasses set ``default_base_url`` and override :meth:`auth_headers`,
    :meth:`error_from_response` where the provider differs.
    """

    default_base_url: str = ""
    header_observer: Callable[[str, Any], None] | None = None
    """Given every answer's headers (core sets it: the provider's remaining rate limits)."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: Any = None

    # -- client ------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        if self.config.api_key is None:
            return {}
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    @property
    def base_url(self) -> str:
        return (self.config.base_url or self.default_base_url).rstrip("/")

    @property
    def client(self) -> Any:
        """The pooled client, built on first use (never at import or init).

        Core keeps one driver per provider and event loop, so a transport
        factory in ``config.transport`` gives each loop its own transport; an
        instance is shared, and refused on a second loop unless it is one that
        works on any loop (:func:`ai_core.drivers.http.build_client`).
        """
        if self._client is None:
            from ai_core.drivers import http
            from ai_core.redaction import remember_secret

            if self.config.api_key is not None:
                remember_secret(self.config.api_key.get_secret_value())
            self._client = http.build_client(
                http.ClientOptions(
                    base_url=self.base_url,
                    timeout=self.config.timeout,
                    connect_timeout=min(10.0, self.config.timeout),
                    headers=self.auth_headers(),
                    transport=self.config.transport,
                    name=self.provider,
                )
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- requests ----------------------------------------------------------

    def _timeouts(self) -> tuple[Any, float]:
        """The transport's timeouts for one request, and its per-read limit.

        Reads wait at most ``max(timeout, stream_idle_timeout)`` in the
        transport, so the wait for the headers is ended by ``timeout`` (our own
        scope) and not earlier by a shorter idle timeout.
        """
        from ai_core.drivers import http

        timeout = self.config.timeout
        read = max(timeout, self.config.stream_idle_timeout)
        return http.Timeout(timeout, connect=min(10.0, timeout), read=read, pool=timeout), read

    async def _start(self, request: Any, deadline: CallDeadline) -> Any:
        """Send ``request`` and wait for the response's headers: at most
        ``timeout`` seconds (connecting included), and never past ``deadline``.

        The response is returned unread; the caller closes it.
        """
        from ai_core.drivers import http

        timeout = self.config.timeout
        started_at = anyio.current_time()
        ends_first = started_at + timeout <= deadline.at
        try:
            with anyio.CancelScope(deadline=min(started_at + timeout, deadline.at)) as scope:
                response = await self.client.send(request, stream=True)
        except http.ConnectTimeout as exc:
            raise errors.ProviderTimeoutError(
                f"could not connect within {seconds(min(10.0, timeout))}", provider=self.provider
            ) from exc
        except http.TimeoutException as exc:  # the connection is up: the server is silent
            raise errors.ProviderTimeoutError(f"no response within {seconds(timeout)}", provider=self.provider) from exc
        except http.HTTPError as exc:
            raise self.error_from_transport(exc) from exc
        if scope.cancelled_caught:
            if ends_first:
                raise errors.ProviderTimeoutError(f"no response within {seconds(timeout)}", provider=self.provider)
            raise deadline.error(self.provider)
        if self.header_observer is not None:
            self.header_observer(self.provider, response.headers)
        return response

    async def _request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """One unstreamed request: headers within ``timeout``, the body within
        the call's total deadline, then decoded (errors mapped)."""
        from ai_core.drivers import http

        deadline = CallDeadline.for_call(self.config.total_timeout)
        timeouts, read = self._timeouts()
        request = self.client.build_request(method, path, timeout=timeouts, **kwargs)
        response = await self._start(request, deadline)
        try:
            with anyio.CancelScope(deadline=deadline.at) as scope:
                await response.aread()
        except http.ReadTimeout as exc:
            raise idle_error("response", read, self.provider) from exc
        except http.HTTPError as exc:
            raise self.error_from_transport(exc) from exc
        finally:
            with anyio.move_on_after(5, shield=True):  # give the connection back even when cancelled
                await response.aclose()
        if scope.cancelled_caught:
            raise deadline.error(self.provider)
        return self.decode(response)

    async def post_json(self, path: str, payload: dict[str, Any], **kwargs: Any) -> Any:
        """POST JSON and return the decoded body, mapping every failure."""
        return await self._request_json("POST", path, json=payload, **kwargs)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET and return the decoded body, mapping every failure."""
        return await self._request_json("GET", path, **kwargs)

    def decode(self, response: Any) -> Any:
        if response.status_code >= 400:
            raise self.error_from_response(response.status_code, response.content, response.headers)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.MalformedResponseError(
                f"expected JSON, got {response.headers.get('content-type', 'no content type')}: "
                f"{response.text[:200]!r}",
                provider=self.provider,
                status_code=response.status_code,
            ) from exc

    async def stream_lines(self, path: str, payload: dict[str, Any]) -> AsyncGenerator[str, None]:
        """POST and yield the response's text lines, every wait bounded.

        The headers must arrive within ``timeout`` (else "no response within
        N s"); then each gap between chunks within ``stream_idle_timeout``
        ("stream idle for N s"); and the whole, with the retries before it,
        within the call's total deadline ("call exceeded its total deadline",
        :class:`~ai_core.errors.DeadlineExceededError`). The idle timeout is the
        transport's per-read timeout where the transport is known to enforce
        it (httpx2's pool and the aiohttp transport do), rather than a cancel
        scope per chunk, which profiling showed to be most of a chunk's CPU;
        any other transport (a custom ``AI_HTTP_TRANSPORT``, a test double)
        gets the scope per chunk, so a hung stream never hangs the caller.
        Lines are split from the raw bytes in one step instead of through
        httpx2's text and line decoders.
        """
        from ai_core.drivers import http

        deadline = CallDeadline.for_call(self.config.total_timeout)
        idle = self.config.stream_idle_timeout
        timeouts, read = self._timeouts()
        request = self.client.build_request("POST", path, json=payload, timeout=timeouts)
        response = await self._start(request, deadline)
        try:
            if response.status_code >= 400:
                with anyio.CancelScope(deadline=deadline.at) as scope:
                    body = await response.aread()
                if scope.cancelled_caught:
                    raise deadline.error(self.provider)
                raise self.error_from_response(response.status_code, body, response.headers)
            pending = b""
            chunks = bounded_chunks(
                response.aiter_bytes(),
                idle=idle,
                deadline=deadline,
                transport_bounds_idle=read == idle and http.enforces_read_timeout(self.client),
                provider=self.provider,
            )
            async for chunk in chunks:
                if pending:
                    chunk = pending + chunk
                if b"\r" in chunk:  # lines may end in CRLF or a lone CR; a CR may end this read
                    held = b"\r" if chunk.endswith(b"\r") else b""
                    chunk = chunk[: len(chunk) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                else:
                    held = b""
                lines = chunk.split(b"\n")
                pending = lines.pop() + held
                for line in lines:
                    yield line.decode("utf-8", "replace")
            if pending.rstrip(b"\r"):
                yield pending.rstrip(b"\r").decode("utf-8", "replace")
        except http.ReadTimeout as exc:
            raise idle_error("stream", idle, self.provider) from exc
        except http.HTTPError as exc:
            raise self.error_from_transport(exc, streaming=True) from exc
        finally:
            with anyio.move_on_after(5, shield=True):  # give the connection back even when cancelled
                await response.aclose()

    # -- error mapping -----------------------------------------------------

    def error_from_transport(self, exc: Exception, *, streaming: bool = False) -> errors.ProviderError:
        from ai_core.drivers import http

        if isinstance(exc, http.ConnectTimeout):
            return errors.ProviderTimeoutError("could not connect in time", provider=self.provider)
        if isinstance(exc, http.TimeoutException):
            return errors.ProviderTimeoutError(
                f"timed out waiting for the provider ({type(exc).__name__})", provider=self.provider
            )
        if streaming and isinstance(exc, http.RemoteProtocolError | http.ReadError):
            return errors.StreamInterruptedError(f"stream cut off: {exc}", provider=self.provider)
        if isinstance(exc, http.TransportError):
            return errors.ProviderUnavailableError(f"cannot reach provider: {exc}", provider=self.provider)
        return errors.ProviderError(f"HTTP failure: {exc}", provider=self.provider)

    def error_from_response(self, status: int, body: bytes, headers: Any) -> errors.ProviderError:
        """Map an HTTP error status and body to the error hierarchy."""
        message, code, parsed = parse_error_body(body)
        kwargs: dict[str, Any] = {
            "provider": self.provider,
            "status_code": status,
            "code": code,
            "body": parsed,
            "request_id": headers.get("x-request-id") if headers is not None else None,
        }
        text = message or f"HTTP {status}"
        return error_for_status(status, text, headers=headers, **kwargs)


def parse_error_body(body: bytes) -> tuple[str, str | None, Any]:
    """Pull a message and code out of the usual ``{"error": ...}`` shapes."""
    try:
        parsed = json.loads(body) if body else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body[:300].decode("utf-8", "replace"), None, None
    error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("detail") or error)
        code = error.get("code") or error.get("type") or error.get("status")
        return message, str(code) if code is not None else None, parsed
    if isinstance(error, str):
        return error, None, parsed
    return str(parsed)[:300], None, parsed


_CONTEXT_MARKERS = ("context_length_exceeded", "context length", "maximum context", "too many tokens", "context window")


def error_for_status(status: int, message: str, *, headers: Any = None, **kwargs: Any) -> errors.ProviderError:
    """The error for an HTTP status, shared by every HTTP driver: its class from
    ``status`` (and ``code``/``message`` for 400s), its ``status_code`` set to
    ``status`` unless given, ``retry_after`` of a 429 read from ``headers``.
    Other keywords (``provider``, ``code``, ``body``, ``request_id``) go to the error."""
    kwargs.setdefault("status_code", status)
    code = (kwargs.get("code") or "").lower()
    lowered = message.lower()
    if status == 401:
        return errors.AuthenticationError(message, **kwargs)
    if status == 403:
        return errors.PermissionDeniedError(message, **kwargs)
    if status == 404:
        return errors.NotFoundError(message, **kwargs)
    if status == 429:
        return errors.RateLimitError(message, retry_after=retry_after_seconds(headers), **kwargs)
    if status in (400, 413, 422):
        if any(marker in code or marker in lowered for marker in _CONTEXT_MARKERS):
            return errors.ContextLengthExceededError(message, **kwargs)
        if "content_filter" in code or "content_policy" in code or "safety" in code:
            return errors.ContentFilteredError(message, **kwargs)
        return errors.InvalidRequestError(message, **kwargs)
    if status == 408:
        return errors.ProviderTimeoutError(message, **kwargs)
    if status >= 500:
        return errors.ProviderUnavailableError(message, **kwargs)
    return errors.ProviderError(message, **kwargs)


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date), else
    from OpenAI-style ``x-ratelimit-reset-requests`` / ``-tokens`` (``"6m0s"``): the spent one's,
    or the later of the two when neither says it is spent."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return _reset_seconds(headers)
    try:
        return max(0.0, float(value))
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reset_seconds(headers: Any) -> float | None:
    from ai_core.scale.headroom import parse_duration

    resets = []
    for kind in ("requests", "tokens"):
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
        if reset is None:
            continue
        if headers.get(f"x-ratelimit-remaining-{kind}") in ("0", 0):
            return reset
        resets.append(reset)
    return max(resets) if resets else None
