"""Record real provider exchanges to a file, and replay them offline.

A test that talks to a real provider once can run offline for ever after: a
:class:`Recording` in ``"record"`` mode wraps the real HTTP transport and
writes every exchange to a JSON file; in ``"replay"`` mode it answers from
that file and never opens a connection. Because it works at the transport
level, under the driver, a replayed call goes through the same driver code,
error mapping and pipeline as the live one and gives exactly the response it
gave live.

What a recording keeps:

* each request's method, URL (key-like query values scrubbed), headers
  (``Authorization``, ``X-Api-Key`` and every header naming a key, token,
  secret or cookie scrubbed) and body, exactly;
* each response's status, headers (``Set-Cookie`` scrubbed) and body exactly
  as received, still encoded (gzip stays gzip), split into the chunks it
  arrived in, so a replayed stream has the same chunk boundaries;
* a transport failure (a refused connection, a stream cut part-way), raised
  again on replay at the same point.

The key values found in scrubbed headers are blanked wherever else they occur
(a body echoing the key); that is the only change made to a body.

Use it directly::

    from ai_core import AI
    from ai_core.testing import Recording

    with Recording("tests/recordings/chat.json", mode="record") as recording:
        ai = AI(providers={"openai": {"transport": recording.transport}})
        ...                                    # real calls, written to the file

    recording = Recording("tests/recordings/chat.json")        # replay
    ai = AI(providers={"openai": {"transport": recording.transport, "api_key": "unused"}})

or through the pytest plugin: ``@pytest.mark.ai_replay("recordings/chat.json")``
replays for that test (path relative to the test file) through every ``AI``
that has no transport of its own, and ``pytest --ai-record`` records instead.
``recording.transport`` is a factory, so each event loop gets its own.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from ai_core.drivers import http

__all__ = [
    "Recording",
    "RecordingError",
    "ReplayMismatchError",
    "active_transport",
]

FORMAT_VERSION = 1
SCRUBBED = "<scrubbed>"
Mode = Literal["replay", "record"]
MatchOn = Literal["method", "host", "path", "body"]

_SECRET_WORDS = ("key", "token", "secret", "auth", "cookie", "password", "signature", "credential")
_SECRET_QUERY = frozenset({"key", "api_key", "apikey", "token", "access_token", "sig", "signature", "secret"})


class RecordingError(RuntimeError):
    """A recording cannot be used: missing, unreadable, or of another format.

    Not an :class:`~ai_core.errors.AIError`: it is a test's bug, and must not
    be caught and retried as a provider failure."""


class ReplayMismatchError(RecordingError):
    """A request was replayed that the recording does not hold (or holds fewer times)."""


# -- encoding bytes in a JSON file, exactly ----------------------------------------------


def _encode(data: bytes) -> str | dict[str, str]:
    """Text when the bytes are UTF-8 (readable diffs), else base64; both round-trip exactly."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _decode(value: str | dict[str, str]) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return base64.b64decode(value["base64"])


def _secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _scrub_url(url: str, secrets: set[str]) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _SECRET_QUERY or _secret_header(name):
            if value:
                secrets.add(value)
            value = SCRUBBED
        query.append((name, value))
    return parts._replace(query=urlencode(query)).geturl()


def _header_secrets(value: str) -> Iterable[str]:
    yield value
    scheme, _, credential = value.partition(" ")
    if credential and scheme.lower() in ("bearer", "basic", "token"):
        yield credential.strip()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _canonical_body(body: bytes) -> Any:
    """JSON bodies compare as data (key order aside); others as bytes."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, UnicodeDecodeError):
        return body


# -- the recording -------------------------------------------------------------------------


class Recording:
    """One recording file, in ``"replay"`` (default) or ``"record"`` mode.

    :param path: the JSON file; read at once in replay mode, written by
        :meth:`save` (and on leaving ``with``) in record mode.
    :param mode: ``"replay"`` answers from the file; ``"record"`` sends for
        real and writes what happened, replacing the file.
    :param match: what a replayed request must equal to use a recorded
        exchange: ``method``, ``path`` (with the scrubbed query), ``body``
        (JSON compared as data) and optionally ``host``. Equal requests are
        answered in the order they were recorded.
    :param inner: in record mode, the transport that really sends (an
        instance, or a factory called once per event loop); default: ai-core's
        own default transport.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Mode = "replay",
        match: Iterable[MatchOn] = ("method", "path", "body"),
        inner: Any = None,
    ) -> None:
        if mode not in ("replay", "record"):
            raise RecordingError(f"mode must be 'replay' or 'record', got {mode!r}")
        self.path = Path(path)
        self.mode: Mode = mode
        self.match = tuple(match)
        self._inner = inner
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._open: set[int] = set()  # ids of exchanges still in flight (record mode)
        self.exchanges: list[dict[str, Any]] = []
        self._used: list[bool] = []
        self._keys: list[tuple[Any, ...]] = []
        if mode == "replay":
            self.exchanges = _read(self.path)
            self._used = [False] * len(self.exchanges)
            self._keys = [
                self._key(e["request"]["method"], e["request"]["url"], _decode(e["request"]["body"]))
                for e in self.exchanges
            ]

    # -- the transport -----------------------------------------------------

    def transport(self) -> http.AsyncBaseTransport:
        """A transport bound to this recording, for the running event loop.

        Pass the method itself (``{"transport": recording.transport}``): core
        calls a factory once per event loop."""
        if self.mode == "replay":
            return _ReplayTransport(self)
        inner = self._inner
        if inner is None:
            inner = http._default_transport() or http._http.AsyncHTTPTransport()
        elif callable(inner) and not isinstance(inner, http.AsyncBaseTransport):
            inner = inner()
        return _RecordingTransport(self, inner)

    # -- record mode -------------------------------------------------------

    def _start(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            self.exchanges.append(exchange)
            self._open.add(id(exchange))

    def _finish(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            self._open.discard(id(exchange))
        self.save()

    def _remember(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if len(s) >= 4)

    def save(self) -> None:
        """Write the file (record mode): finished exchanges only, secrets blanked, atomically."""
        if self.mode != "record":
            return
        with self._lock:
            exchanges = [_scrubbed(e, self._secrets) for e in self.exchanges if id(e) not in self._open]
        document = {"version": FORMAT_VERSION, "recorded_by": "ai-core", "exchanges": exchanges}
        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.save()

    # -- replay mode -------------------------------------------------------

    def _key(self, method: str, url: str, body: bytes) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field in self.match:
            if field == "method":
                parts.append(method.upper())
            elif field == "host":
                parts.append(urlsplit(url).netloc)
            elif field == "path":
                parts.append(_path(url))
            elif field == "body":
                parts.append(_canonical_body(body))
        return tuple(parts)

    def _take(self, method: str, url: str, body: bytes) -> dict[str, Any]:
        wanted = self._key(method, _scrub_url(url, set()), body)
        with self._lock:
            for index, exchange in enumerate(self.exchanges):
                if not self._used[index] and self._keys[index] == wanted:
                    self._used[index] = True
                    return exchange
            left = [
                f"  {e['request']['method']} {_path(e['request']['url'])} {str(e['request']['body'])[:120]!r}"
                for e, used in zip(self.exchanges, self._used, strict=True)
                if not used
            ]
        shown = str(_encode(body))[:300]
        raise ReplayMismatchError(
            f"{self.path}: no recorded exchange left for {method} {_path(url)} with body {shown!r} "
            f"(matching on {', '.join(self.match)}). "
            + ("Unplayed recordings:\n" + "\n".join(left) if left else "Every recorded exchange was played already.")
            + "\nRecord again (pytest --ai-record) if the requests changed on purpose."
        )

    @property
    def unplayed(self) -> list[dict[str, Any]]:
        """Recorded exchanges no request has used yet (replay mode)."""
        with self._lock:
            return [e for e, used in zip(self.exchanges, self._used, strict=True) if not used]


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordingError(
            f"no recording at {path}: record it first (pytest --ai-record, or Recording(..., mode='record'))"
        ) from None
    except (OSError, ValueError) as exc:
        raise RecordingError(f"cannot read the recording {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise RecordingError(f"{path} is not an ai-core recording of format version {FORMAT_VERSION}")
    exchanges = document.get("exchanges")
    if not isinstance(exchanges, list) or not all(isinstance(e, dict) and "request" in e for e in exchanges):
        raise RecordingError(f"{path}: 'exchanges' must be a list of recorded exchanges")
    return exchanges


def _blank(data: bytes, secrets: set[str]) -> bytes:
    for secret in secrets:
        data = data.replace(secret.encode("utf-8"), SCRUBBED.encode("ascii"))
    return data


def _scrubbed(exchange: dict[str, Any], secrets: set[str]) -> dict[str, Any]:
    """A copy of ``exchange`` with every remembered secret blanked wherever it occurs."""
    if not secrets:
        return exchange

    def text(value: str) -> str:
        return _blank(value.encode("utf-8"), secrets).decode("utf-8")

    request = dict(exchange["request"])
    request["url"] = text(request["url"])
    request["headers"] = [[name, text(value)] for name, value in request["headers"]]
    request["body"] = _encode(_blank(_decode(request["body"]), secrets))
    out = {**exchange, "request": request}
    if "response" in exchange:
        response = dict(exchange["response"])
        response["headers"] = [[name, text(value)] for name, value in response["headers"]]
        response["chunks"] = [_encode(_blank(_decode(chunk), secrets)) for chunk in response["chunks"]]
        out["response"] = response
    if "error" in exchange:
        out["error"] = {**exchange["error"], "message": text(exchange["error"]["message"])}
    return out


# -- the transports ------------------------------------------------------------------------


def _failure(error: BaseException) -> dict[str, str]:
    return {"type": type(error).__name__, "message": str(error)}


def _raise(failure: dict[str, str], request: Any) -> None:
    error_class = getattr(http._http, failure.get("type", ""), None)
    if not (isinstance(error_class, type) and issubclass(error_class, http.TransportError)):
        error_class = http.TransportError
    raise error_class(failure.get("message", "recorded transport failure"), request=request)


class _RecordingTransport(http.AsyncBaseTransport):
    """Sends through ``inner`` and writes each exchange to the recording."""

    def __init__(self, recording: Recording, inner: Any) -> None:
        self.recording = recording
        self.inner = inner

    async def handle_async_request(self, request: Any) -> Any:
        body = await request.aread()
        secrets: set[str] = set()
        headers = []
        for name, value in request.headers.multi_items():
            if _secret_header(name):
                secrets.update(_header_secrets(value))
                value = SCRUBBED
            headers.append([name, value])
        url = _scrub_url(str(request.url), secrets)
        self.recording._remember(secrets)
        exchange: dict[str, Any] = {
            "request": {"method": request.method, "url": url, "headers": headers, "body": _encode(body)}
        }
        self.recording._start(exchange)
        try:
            response = await self.inner.handle_async_request(request)
        except http.HTTPError as exc:
            exchange["error"] = _failure(exc)
            self.recording._finish(exchange)
            raise
        exchange["response"] = {
            "status": response.status_code,
            "headers": [
                [name, SCRUBBED if _secret_header(name) else value]
                for name, value in ((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw)
            ],
            "chunks": [],
        }
        return http.Response(
            status_code=response.status_code,
            headers=response.headers.raw,
            stream=_RecordingStream(response.stream, exchange, self.recording),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        self.recording.save()
        await self.inner.aclose()


class _RecordingStream(http._http.AsyncByteStream):
    def __init__(self, inner: Any, exchange: dict[str, Any], recording: Recording) -> None:
        self.inner = inner
        self.exchange = exchange
        self.recording = recording
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self.exchange["response"]["chunks"]
        try:
            async for chunk in self.inner:
                chunks.append(_encode(chunk))
                yield chunk
        except http.HTTPError as exc:  # cut part-way: replayed at the same point
            self.exchange["response"]["error"] = _failure(exc)
            self._finish()
            raise
        self._finish()

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            self.recording._finish(self.exchange)

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if not self.done:
                self.exchange["response"]["closed_early"] = True
                self._finish()


class _ReplayTransport(http.AsyncBaseTransport):
    """Answers from the recording; never opens a connection."""

    any_event_loop = True

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    async def handle_async_request(self, request: Any) -> Any:
        body = await request.aread()
        exchange = self.recording._take(request.method, str(request.url), body)
        if "response" not in exchange:
            _raise(exchange.get("error", {}), request)
        recorded = exchange["response"]
        chunks = [_decode(chunk) for chunk in recorded["chunks"]]
        return http.Response(
            status_code=recorded["status"],
            headers=[(name, value) for name, value in recorded["headers"]],
            stream=_ReplayStream(chunks, recorded.get("error"), request),
            extensions={"http_version": b"HTTP/1.1"},
        )


class _ReplayStream(http._http.AsyncByteStream):
    def __init__(self, chunks: list[bytes], failure: dict[str, str] | None, request: Any) -> None:
        self.chunks = chunks
        self.failure = failure
        self.request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import anyio

        for chunk in self.chunks:
            await anyio.lowlevel.checkpoint()  # a real stream yields to the loop between reads
            yield chunk
        if self.failure is not None:
            _raise(self.failure, self.request)

    async def aclose(self) -> None:
        pass


# -- the pytest plugin's hook ------------------------------------------------------------

_active: Recording | None = None


def activate(recording: Recording | None) -> Recording | None:
    """Make ``recording`` the one :func:`active_transport` serves; returns the previous one."""
    global _active
    previous, _active = _active, recording
    return previous


def active_transport() -> http.AsyncBaseTransport:
    """The active recording's transport: what ``AI_HTTP_TRANSPORT`` names while
    a test marked ``ai_replay`` runs."""
    if _active is None:
        raise RecordingError("no recording is active: AI_HTTP_TRANSPORT names ai_core.testing.record outside a test")
    return _active.transport()
