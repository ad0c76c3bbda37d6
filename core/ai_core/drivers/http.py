"""The only module that imports an HTTP library or builds HTTP clients.

Everything HTTP in ai-core (drivers, tests, benchmarks) goes through the names
defined here, so switching the library is a one-line change (``_http`` below).
Drivers program against ``httpx2``, the maintained continuation of httpx with
the same API (httpx has had no release since 0.28.1 and measured 1.4-2x
httpx2's CPU per request here). On asyncio the bytes travel through aiohttp by
default (:class:`AiohttpTransport`), which measured 2.6x less CPU per request
than httpx2's own pool at 50 concurrent requests; on trio, httpx2's own pool is
used. README, "Choosing the HTTP client", has the numbers and the command.

The transport is injectable: pass any ``AsyncBaseTransport`` (a
``MockTransport`` in tests, an aiohttp-backed one in production) per provider,
or a factory (any callable returning one), or name a factory with
``AI_HTTP_TRANSPORT=module:callable``. A pool belongs to the event loop that
opened it, and one ``AI`` used from sync code (its own loop thread) and from
async code runs two loops: a factory is called once per loop, while an
instance is refused on a second loop with a :class:`~ai_core.errors.ConfigurationError`
saying to pass a factory, unless it works on any loop (``MockTransport``,
:class:`AiohttpTransport`, or a class that sets ``any_event_loop = True``).
"""

from __future__ import annotations

import importlib
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2 as _http

__all__ = [
    "AiohttpTransport",
    "AsyncBaseTransport",
    "AsyncClient",
    "AsyncHTTPTransport",
    "ClientOptions",
    "HTTPError",
    "HTTPStatusError",
    "MockTransport",
    "Request",
    "Response",
    "Timeout",
    "TransportError",
    "build_client",
    "claim_transport",
    "enforces_read_timeout",
    "http_library",
]

AsyncClient = _http.AsyncClient
AsyncBaseTransport = _http.AsyncBaseTransport
AsyncHTTPTransport = _http.AsyncHTTPTransport
MockTransport = _http.MockTransport
Request = _http.Request
Response = _http.Response
Timeout = _http.Timeout
HTTPError = _http.HTTPError
HTTPStatusError = _http.HTTPStatusError
TransportError = _http.TransportError
TimeoutException = _http.TimeoutException
ConnectError = _http.ConnectError
ConnectTimeout = _http.ConnectTimeout
ReadTimeout = _http.ReadTimeout
RemoteProtocolError = _http.RemoteProtocolError
ReadError = _http.ReadError
NetworkError = _http.NetworkError
Limits = _http.Limits

http_library = _http.__name__


@dataclass(frozen=True)
class ClientOptions:
    """How to build one provider's pooled client."""

    base_url: str = ""
    timeout: float = 60.0
    connect_timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)
    transport: Any = None  # an AsyncBaseTransport, a factory of one, or None for the default
    max_connections: int = 100
    max_keepalive: int = 20
    name: str = ""  # the provider, for error messages


class _AiohttpStream(_http.AsyncByteStream):
    """The body of an aiohttp response, as httpx2 reads it."""

    def __init__(self, response: Any) -> None:
        self._response = response

    async def __aiter__(self) -> Any:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:  # first: aiohttp's ServerTimeoutError is also a ClientError
            raise ReadTimeout("read timed out") from exc
        except aiohttp.ClientPayloadError as exc:
            raise RemoteProtocolError(f"body cut off: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(_http.AsyncBaseTransport):
    """An httpx2 transport that sends with aiohttp (asyncio only).

    httpx2's own connection pool costs several times aiohttp's CPU per request
    (README, "Choosing the HTTP client"), so on asyncio this is the default;
    the client API, error mapping and MockTransport tests stay httpx2's.
    One instance may serve several asyncio loops: it opens a session per loop.
    """

    any_event_loop = True

    def __init__(self, *, limit: int = 100, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._sessions: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def _get_session(self) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit_per_host)
            session = self._sessions[loop] = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
        return session

    async def handle_async_request(self, request: Any) -> Any:
        import aiohttp

        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read")
        )
        try:
            body: Any = request.content
        except _http.RequestNotRead:  # a streaming upload: aiohttp reads async iterables
            body = request.stream
        try:
            response = await self._get_session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body,
                allow_redirects=False,
                timeout=timeout,
            )
        except aiohttp.ConnectionTimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
            raise ConnectTimeout("timed out connecting to the server", request=request) from exc
        except TimeoutError as exc:  # connected, but no response headers in time
            raise ReadTimeout("timed out waiting for the response", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(str(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise ReadError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise RemoteProtocolError(str(exc), request=request) from exc
        return Response(
            status_code=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_AiohttpStream(response),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        """Close the session of the running loop (each loop's client closes its own)."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()


def enforces_read_timeout(client: Any) -> bool:
    """Whether ``client``'s transport applies ``timeout.read`` to every read
    (httpx2's own pool and :class:`AiohttpTransport` do; others may not)."""
    return isinstance(getattr(client, "_transport", None), AiohttpTransport | _http.AsyncHTTPTransport)


def _default_transport() -> Any:
    """aiohttp on asyncio when installed (much less CPU); httpx2's own elsewhere (trio)."""
    if os.environ.get("AI_HTTP_BACKEND", "auto") == "httpx2":
        return None
    try:
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            return None
        import aiohttp  # noqa: F401
    except (ImportError, sniffio.AsyncLibraryNotFoundError):
        return None
    return AiohttpTransport()


def _transport_from_env() -> Any:
    spec = os.environ.get("AI_HTTP_TRANSPORT")
    if not spec:
        return _default_transport()
    module_name, _, attr = spec.partition(":")
    factory: Callable[[], Any] = getattr(importlib.import_module(module_name), attr or "transport")
    return factory()


_owners: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""Transport instance -> a weak reference to the event loop (asyncio loop or
trio root task) that first used it."""


def _running_loop() -> Any:
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_root_task()
    import asyncio

    return asyncio.get_running_loop()


def _is_factory(transport: Any) -> bool:
    return callable(transport) and not isinstance(transport, _http.AsyncBaseTransport)


def claim_transport(transport: Any, name: str = "") -> Any:
    """The transport to use on the running loop: a factory's new product, or
    ``transport`` itself once it is known not to serve another live loop."""
    if _is_factory(transport):
        return transport()
    if isinstance(transport, MockTransport) or getattr(transport, "any_event_loop", False):
        return transport
    try:
        loop = _running_loop()
    except Exception:  # built outside any loop (a script, a benchmark): nothing to check yet
        return transport
    try:
        owner = _owners.get(transport)
    except TypeError:  # not weak-referenceable: cannot track it, so trust it
        return transport
    current = owner() if owner is not None else None
    if current is None or current is loop or getattr(current, "is_closed", lambda: False)():
        _owners[transport] = weakref.ref(loop)
        return transport
    from ai_core.errors import ConfigurationError

    subject = f"the transport given for provider {name!r}" if name else "this transport"
    raise ConfigurationError(
        f"{subject} ({type(transport).__name__}) is already in use on another event loop, and a connection "
        "pool cannot be shared between loops (an AI used both from sync code and from async code runs two); "
        'pass a factory instead, e.g. {"transport": lambda: ' + type(transport).__name__ + "(...)}, "
        "and each loop gets its own"
    )


def build_client(options: ClientOptions) -> Any:
    """Build the pooled ``AsyncClient`` one provider uses for all its calls,
    on the running event loop (see :func:`claim_transport`)."""
    if options.transport is not None:
        transport = claim_transport(options.transport, options.name)
    else:
        transport = _transport_from_env()
    limits = Limits(max_connections=options.max_connections, max_keepalive_connections=options.max_keepalive)
    kwargs: dict[str, Any] = {
        "base_url": options.base_url,
        "headers": options.headers,
        "timeout": Timeout(options.timeout, connect=options.connect_timeout),
        "follow_redirects": False,
    }
    if transport is not None:
        kwargs["transport"] = transport
    else:
        kwargs["limits"] = limits
    return AsyncClient(**kwargs)
