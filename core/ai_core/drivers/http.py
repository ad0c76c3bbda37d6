"""The only module that imports an HTTP library or builds HTTP clients.

Everything HTTP in ai-core (drivers, tests, benchmarks) goes through the names
defined here, so switching the library is a one-line change (``_http`` below).
We use ``httpx2``, the maintained continuation of httpx with the same API: httpx
has had no release since 0.28.1 and measured about twice httpx2's CPU per
request here (README, "Choosing the HTTP client").

The transport is injectable: pass any ``AsyncBaseTransport`` (a
``MockTransport`` in tests, an aiohttp-backed one in production) per provider,
or name a factory with ``AI_HTTP_TRANSPORT=module:callable``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2 as _http

__all__ = [
    "AsyncBaseTransport",
    "AsyncClient",
    "HTTPError",
    "HTTPStatusError",
    "MockTransport",
    "Request",
    "Response",
    "Timeout",
    "TransportError",
    "ClientOptions",
    "build_client",
    "http_library",
]

AsyncClient = _http.AsyncClient
AsyncBaseTransport = _http.AsyncBaseTransport
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
    transport: Any = None  # an AsyncBaseTransport, or None for the default
    max_connections: int = 100
    max_keepalive: int = 20


def _transport_from_env() -> Any:
    spec = os.environ.get("AI_HTTP_TRANSPORT")
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    factory: Callable[[], Any] = getattr(importlib.import_module(module_name), attr or "transport")
    return factory()


def build_client(options: ClientOptions) -> Any:
    """Build the pooled ``AsyncClient`` one provider uses for all its calls."""
    transport = options.transport if options.transport is not None else _transport_from_env()
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
