"""A real HTTP server on 127.0.0.1 that speaks OpenAI Chat Completions.

Tests script it per call and read back every request it received, so drivers
are exercised over real sockets, real chunked SSE and real error statuses,
not a mock transport. Standard library only, so it also runs as its own
process for benchmarks (``python tests/servers/openai_compat.py``).

Script a reply per call with :meth:`OpenAICompatServer.reply`::

    server.reply(Completion(text="Hi", usage=Usage(prompt_tokens=9, completion_tokens=2)))
    server.reply(ErrorReply.rate_limited(retry_after=3))
    server.reply(Completion(text="long answer", fault=Fault.cut_off(after=2)))
    server.reply(Completion(fault=Fault.silent()))        # connection accepted, no headers ever
    server.reply(Completion(fault=Fault.trickle(0.2)))    # one byte every 0.2 s

A :class:`Completion` is rendered as a ``chat.completion`` body or as an SSE
stream (role chunk, reasoning, text, tool-call deltas, finish, the final usage
chunk with ``choices: []``, ``data: [DONE]``), depending on the request's
``stream`` flag, so one script serves both ways of calling. ``flavor="xai"``
renders xAI's differences: ``reasoning_content``, chunks that omit
``finish_reason``, reasoning tokens reported on top of completion tokens, extra
usage fields, usage on every chunk.
"""

from __future__ import annotations

import argparse
import collections
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = [
    "Completion",
    "ErrorReply",
    "Fault",
    "OpenAICompatServer",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "Usage",
    "running_server",
]

Flavor = Literal["openai", "xai"]


# ---------------------------------------------------------------------------
# What a test scripts
# ---------------------------------------------------------------------------


@dataclass
class Usage:
    """Token counts, in OpenAI's convention (completion includes reasoning)."""

    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Extra top-level usage fields, e.g. xAI's ``num_sources_used``."""

    def wire(self, flavor: Flavor) -> dict[str, Any]:
        if flavor == "xai":  # xAI reports reasoning on top of completion tokens
            visible = self.completion_tokens - self.reasoning_tokens
            usage: dict[str, Any] = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": visible,
                "total_tokens": self.prompt_tokens + visible + self.reasoning_tokens,
                "prompt_tokens_details": {
                    "text_tokens": self.prompt_tokens,
                    "audio_tokens": 0,
                    "image_tokens": 0,
                    "cached_tokens": self.cached_tokens,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": self.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
                "num_sources_used": 0,
                "cost_in_usd_ticks": 1000 * (self.prompt_tokens + self.completion_tokens),
            }
        else:
            usage = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": self.reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        usage.update(self.extra)
        return usage

    def times(self, choices: int) -> Usage:
        """The usage of ``choices`` answers like this one: each choice's output is billed."""
        if choices == 1:
            return self
        return replace(
            self, completion_tokens=self.completion_tokens * choices, reasoning_tokens=self.reasoning_tokens * choices
        )


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Fault:
    """Something going wrong part-way through a stream, after ``after`` chunks.

    ``silent`` and ``trickle`` act on unstreamed answers too (before the headers,
    and on the JSON body); the others only on streams.
    """

    kind: Literal["cut_off", "end_early", "stall", "error_event", "garbage", "linger", "silent", "endless", "trickle"]
    after: int = 1
    seconds: float = 30.0
    error: ErrorReply | None = None
    sse_event: str | None = None

    @classmethod
    def cut_off(cls, after: int = 1) -> Fault:
        """The connection drops mid-response (no terminating chunk)."""
        return cls("cut_off", after)

    @classmethod
    def end_early(cls, after: int = 1) -> Fault:
        """The HTTP response ends cleanly, but before the finish chunk and ``[DONE]``."""
        return cls("end_early", after)

    @classmethod
    def stall(cls, after: int = 1, seconds: float = 30.0) -> Fault:
        """The server stops sending for ``seconds`` (then ends the stream)."""
        return cls("stall", after, seconds=seconds)

    @classmethod
    def error_event(cls, after: int = 1, error: ErrorReply | None = None, sse_event: str | None = None) -> Fault:
        """An ``{"error": ...}`` payload inside the stream (status already 200)."""
        return cls("error_event", after, error=error or ErrorReply.server_error(), sse_event=sse_event)

    @classmethod
    def linger(cls, seconds: float = 30.0) -> Fault:
        """Keep the body open for ``seconds`` after ``data: [DONE]`` before ending it."""
        return cls("linger", after=-1, seconds=seconds)

    @classmethod
    def garbage(cls, after: int = 1) -> Fault:
        """A ``data:`` line that is not JSON."""
        return cls("garbage", after)

    @classmethod
    def silent(cls, seconds: float = 60.0) -> Fault:
        """Accept the connection and read the request, then send nothing at all (not even
        headers) until the client hangs up or ``seconds`` pass; streamed or not."""
        return cls("silent", after=0, seconds=seconds)

    @classmethod
    def endless(cls, after: int = 1, seconds: float = 0.05) -> Fault:
        """After ``after`` chunks, send a text chunk every ``seconds``, forever (until the
        client hangs up). Streams only."""
        return cls("endless", after, seconds=seconds)

    @classmethod
    def trickle(cls, seconds: float = 0.2) -> Fault:
        """Send the whole response body one byte at a time, ``seconds`` apart: each gap is
        short, the whole takes minutes. Streamed or not."""
        return cls("trickle", after=0, seconds=seconds)


@dataclass
class Completion:
    """A successful answer, rendered whole or streamed as the request asks."""

    text: str = "Hello from the test server."
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    """The model id the server says it used; default: the requested one."""
    chunk_size: int = 8
    """Characters of text (or arguments) per streamed chunk."""
    fault: Fault | None = None
    headers: dict[str, str] = field(default_factory=dict)
    id: str = "chatcmpl-test0001"
    choices: int = 1
    """How many choices are rendered, each saying the same; the server sets it
    from the request's ``n``. The usage reported covers all of them (``usage``
    is one choice's: completion and reasoning tokens are multiplied)."""


@dataclass
class ErrorReply:
    """An HTTP error status with OpenAI's error body (``ErrorResponse``)."""

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    @classmethod
    def bad_request(
        cls, message: str = "Invalid value for 'temperature'.", param: str | None = "temperature"
    ) -> ErrorReply:
        return cls(400, message, "invalid_request_error", None, param)

    @classmethod
    def context_length_exceeded(cls) -> ErrorReply:
        return cls(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "130512 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        )

    @classmethod
    def unauthorized(cls) -> ErrorReply:
        return cls(
            401,
            "Incorrect API key provided: sk-wrong***. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )

    @classmethod
    def forbidden(cls) -> ErrorReply:
        return cls(403, "Project does not have access to model gpt-4o.", "invalid_request_error", "model_not_found")

    @classmethod
    def not_found(cls, model: str = "gpt-nope") -> ErrorReply:
        return cls(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    @classmethod
    def rate_limited(cls, retry_after: float | None = 2, *, retry_after_ms: int | None = None) -> ErrorReply:
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        return cls(
            429,
            "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
            "requests",
            "rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def server_error(cls, status: int = 500) -> ErrorReply:
        return cls(status, "The server had an error while processing your request. Sorry about that!", "server_error")

    @classmethod
    def unavailable(cls) -> ErrorReply:
        return cls(503, "The engine is currently overloaded, please try again later.", "server_error", "overloaded")


@dataclass
class RawReply:
    """Any bytes with any status: a proxy's HTML page, an empty body, broken JSON."""

    status: int = 200
    body: bytes = b"<html><body>502 Bad Gateway</body></html>"
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)


Reply = Completion | ErrorReply | RawReply


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0
    """The client's source port: equal ports mean a reused (pooled) connection."""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def render_completion(reply: Completion, model: str, flavor: Flavor) -> dict[str, Any]:
    """A whole ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": reply.refusal}
    if reply.refusal:
        message["content"] = None
    if reply.reasoning and flavor == "xai":
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_text()},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": reply.id + ("_us-east-1" if flavor == "xai" else ""),  # xAI ids carry a region suffix
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or model,
        "choices": [
            {"index": index, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
            for index in range(reply.choices)
        ],
        "usage": reply.usage.times(reply.choices).wire(flavor),
        "service_tier": "default",
        "system_fingerprint": "fp_test",
    }


def _finish(reply: Completion) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def render_chunks(reply: Completion, model: str, flavor: Flavor, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of one stream, in order (with ``n > 1``,
    each chunk of the first choice is followed by the same for the others)."""
    for out in _choice_chunks(reply, model, flavor, include_usage):
        yield out
        for index in range(1, reply.choices if out["choices"] else 1):
            yield {**out, "choices": [{**out["choices"][0], "index": index}]}


def _choice_chunks(reply: Completion, model: str, flavor: Flavor, include_usage: bool) -> Iterator[dict[str, Any]]:
    created = int(time.time())
    stream_id = reply.id + ("_us-east-1" if flavor == "xai" else "")
    served = reply.model or model
    usage = reply.usage.times(reply.choices).wire(flavor)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if flavor == "openai" or finish is not None:  # xAI omits finish_reason until the end
            choice["finish_reason"] = finish
        if flavor == "openai":
            choice["logprobs"] = None
        out: dict[str, Any] = {
            "id": stream_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": served,
            "system_fingerprint": "fp_test",
            "choices": [choice],
        }
        if flavor == "xai":
            out["usage"] = usage  # xAI repeats the usage object on every chunk
        elif include_usage:
            out["usage"] = None
        return out

    yield chunk({"role": "assistant", "content": "", "refusal": None} if flavor == "openai" else {"role": "assistant"})
    if reply.reasoning and flavor == "xai":
        for piece in _pieces(reply.reasoning, reply.chunk_size):
            yield chunk({"reasoning_content": piece})
    if reply.refusal:
        for piece in _pieces(reply.refusal, reply.chunk_size):
            yield chunk({"refusal": piece})
    elif reply.text:
        for piece in _pieces(reply.text, reply.chunk_size):
            yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id or f"call_{index}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(call.arguments_text(), reply.chunk_size):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish(reply))
    if include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = usage
        yield last


def model_list(models: list[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for m in models],
    }


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


class OpenAICompatServer:
    """A scriptable Chat Completions server in a background thread.

    ``reply()`` queues replies for the next calls, in order; when the queue is
    empty, ``handler`` (if set) decides, else ``default`` answers. Every request
    is appended to ``requests`` and every JSON payload sent (bodies and stream
    chunks, not deliberate faults) to ``sent``, so a suite can validate both
    sides of the wire afterwards.
    """

    def __init__(
        self,
        *,
        flavor: Flavor = "openai",
        api_keys: set[str] | None = None,
        models: list[str] | None = None,
        default: Reply | None = None,
        record: bool = True,
        prefix: str = "/v1",
        coalesce: bool = False,
    ) -> None:
        self.flavor: Flavor = flavor
        self.api_keys = api_keys
        self.models = models if models is not None else ["gpt-4o", "gpt-4o-mini", "o4-mini", "text-embedding-3-small"]
        self.default: Reply = default or Completion()
        self.handler: Callable[[RecordedRequest], Reply] | None = None
        self.record = record
        self.prefix = prefix.rstrip("/")
        self.coalesce = coalesce
        """Send a whole stream in one write (benchmarks: isolates the client's parsing cost)."""
        self.requests: list[RecordedRequest] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._queue: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> OpenAICompatServer:
        handler = type("BoundHandler", (_Handler,), {"server_double": self})
        self._httpd = _HTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-compat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAICompatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- scripting ---------------------------------------------------------

    def reply(self, *replies: Reply) -> OpenAICompatServer:
        with self._lock:
            self._queue.extend(replies)
        return self

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.sent.clear()
        self.handler = None

    def next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            reply = self._queue.popleft() if self._queue else None
        if reply is None:
            reply = self.handler(request) if self.handler is not None else self.default
        return _with_choices(reply, request)

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of every ``POST /chat/completions`` received."""
        return [r.json for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    def received(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        """``chat_bodies`` once there are ``count`` (or ``within`` seconds have passed).

        A client that times out after sending has sent its request, but this server's
        thread may read it only later on a busy machine: wait for it rather than
        count too early (blocks the calling thread; call it after the client is done)."""
        deadline = time.monotonic() + within
        while len(bodies := self.chat_bodies) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return bodies

    @property
    def last_body(self) -> dict[str, Any]:
        return self.chat_bodies[-1]

    def wait_stopping(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def route(self, handler: Any, request: RecordedRequest, path: str) -> bool:
        """Serve endpoints beyond Chat Completions (a subclass's, e.g. tests/servers/openai_batch.py);
        True when ``handler`` has answered."""
        return False


def _with_choices(reply: Reply, request: RecordedRequest) -> Reply:
    """``reply`` rendered as the ``n`` choices the request asks for (each billed)."""
    if not isinstance(reply, Completion) or reply.choices != 1:
        return reply
    try:
        n = request.json.get("n")
    except (ValueError, AttributeError):
        return reply
    return replace(reply, choices=n) if type(n) is int and n > 1 else reply


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 resets connections at 50 concurrent clients

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, cut-off tests) are expected; anything else is printed."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_double: OpenAICompatServer
    protocol_version = "HTTP/1.1"
    # Buffer each response and send it in one piece, without Nagle: headers and body
    # in separate segments would meet the client's delayed ACK (40 ms per request).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    # -- routing -----------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        double = self.server_double
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(self.command, self.path, headers, body, self.client_address[1])
        if double.record:
            double.requests.append(request)
        if double.api_keys is not None:
            auth = self.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in double.api_keys:
                self._error(ErrorReply.unauthorized())
                return
        path = self.path.split("?", 1)[0]
        if double.route(self, request, path):
            return
        if self.command == "GET" and path == double.prefix + "/models":
            self._json(200, model_list(double.models), kind="models")
        elif self.command == "POST" and path == double.prefix + "/chat/completions":
            self._chat(request)
        else:
            self._error(
                ErrorReply(404, f"Unknown request URL: {self.command} {path}.", "invalid_request_error", "unknown_url")
            )

    def _chat(self, request: RecordedRequest) -> None:
        double = self.server_double
        try:
            payload = json.loads(request.body)
        except ValueError:
            self._error(ErrorReply(400, "We could not parse the JSON body of your request.", "invalid_request_error"))
            return
        reply = double.next_reply(request)
        fault = reply.fault if isinstance(reply, Completion) else None
        if fault is not None and fault.kind == "silent":
            self._hold(fault.seconds)
            self.close_connection = True
            return
        if isinstance(reply, ErrorReply):
            self._error(reply)
        elif isinstance(reply, RawReply):
            self._send(reply.status, reply.body, reply.content_type, reply.headers)
        elif payload.get("stream"):
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            self._stream(reply, payload.get("model", ""), include_usage)
        elif fault is not None and fault.kind == "trickle":
            body = json.dumps(render_completion(reply, payload.get("model", ""), double.flavor)).encode()
            self._trickled(body, fault.seconds, reply.headers)
        else:
            self._json(
                200, render_completion(reply, payload.get("model", ""), double.flavor), reply.headers, "response"
            )

    # -- writing -----------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", "req_test123")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None, kind: str = ""
    ) -> None:
        if kind and self.server_double.record:
            self.server_double.sent.append((kind, payload))
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _error(self, reply: ErrorReply) -> None:
        self._json(reply.status, reply.body(), reply.headers, "error")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _hold(self, seconds: float) -> None:
        """Send nothing until the client hangs up, the server stops or ``seconds`` pass."""
        import select
        import socket

        deadline = time.monotonic() + seconds
        double = self.server_double
        while not double._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.1))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client closed the connection
                except OSError:
                    return
                time.sleep(0.05)  # it sent more (a pipelined request): keep ignoring it

    def _trickled(self, body: bytes, seconds: float, headers: dict[str, str]) -> None:
        """A 200 JSON response whose body arrives one byte per ``seconds``."""
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", "req_test123")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()
        try:
            for index in range(len(body)):
                if self.server_double._stopping.wait(seconds):
                    break
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _stream(self, reply: Completion, model: str, include_usage: bool) -> None:
        double = self.server_double
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self.send_header("x-request-id", "req_test123")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        fault = reply.fault
        if double.coalesce and fault is None:
            chunks = render_chunks(reply, model, double.flavor, include_usage)
            self._chunk(b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n")
            self._chunk(b"")
            return
        if fault is not None and fault.kind == "trickle":
            self._trickle_stream(reply, model, include_usage, fault.seconds)
            return
        try:
            for count, chunk in enumerate(render_chunks(reply, model, double.flavor, include_usage)):
                if fault is not None and count == fault.after and self._fault(fault, chunk):
                    return
                if double.record:
                    double.sent.append(("chunk", chunk))
                self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self._chunk(b"data: [DONE]\n\n")
            if fault is not None and fault.kind == "linger":
                double.wait_stopping(fault.seconds)
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up; that is its right
            self.close_connection = True

    def _trickle_stream(self, reply: Completion, model: str, include_usage: bool, seconds: float) -> None:
        """The whole SSE stream, one byte per HTTP chunk, ``seconds`` apart."""
        double = self.server_double
        chunks = render_chunks(reply, model, double.flavor, include_usage)
        body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        try:
            for index in range(len(body)):
                if double._stopping.wait(seconds):
                    break
                self._chunk(body[index : index + 1])
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _fault(self, fault: Fault, chunk: dict[str, Any]) -> bool:
        """Act out a fault; True when the response is over."""
        if fault.kind == "endless":
            template = json.loads(json.dumps(chunk))
            template["choices"] = [{"index": 0, "delta": {"content": "more "}, "finish_reason": None}]
            line = b"data: " + json.dumps(template).encode() + b"\n\n"
            while not self.server_double._stopping.wait(fault.seconds):
                self._chunk(line)  # raises once the client hangs up
            return True
        if fault.kind == "cut_off":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)  # no terminating chunk: the client sees a truncated body
            return True
        if fault.kind == "end_early":
            self._chunk(b"")
            return True
        if fault.kind == "stall":
            self.server_double.wait_stopping(fault.seconds)
            self._chunk(b"")
            return True
        if fault.kind == "garbage":
            self._chunk(b'data: {"id": "chatcmpl-broken", "choices": [\n\n')
            return False
        assert fault.error is not None
        head = f"event: {fault.sse_event}\n".encode() if fault.sse_event else b""
        self._chunk(head + b"data: " + json.dumps(fault.error.body()).encode() + b"\n\n")
        self._chunk(b"")
        return True


class running_server:
    """``with running_server(flavor="xai") as server:``: start and always stop."""

    def __init__(self, **kwargs: Any) -> None:
        self.server = OpenAICompatServer(**kwargs)

    def __enter__(self) -> OpenAICompatServer:
        return self.server.start()

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; print the base URL on the first line (for benchmarks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavor", choices=["openai", "xai"], default="openai")
    parser.add_argument("--text-chunks", type=int, default=1, help="text chunks per streamed answer")
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--coalesce", action="store_true", help="write each stream in one piece")
    args = parser.parse_args(argv)
    text = "x" * (args.text_chunks * args.chunk_size)
    usage = Usage(prompt_tokens=12, completion_tokens=args.text_chunks)
    reply = Completion(text=text, chunk_size=args.chunk_size, usage=usage)
    server = OpenAICompatServer(flavor=args.flavor, record=False, default=reply, coalesce=args.coalesce)
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
