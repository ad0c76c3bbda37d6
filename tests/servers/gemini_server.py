"""A real HTTP server on 127.0.0.1 speaking Google's Generative Language API v1beta.

Built from the discovery document (../shared/specs/gemini-generativelanguage-v1beta.discovery.json):

- ``POST /v1beta/models/{model}:generateContent`` -> a ``GenerateContentResponse``;
- ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` -> SSE ``data:`` chunks, each a
  ``GenerateContentResponse`` carrying the usage so far, the last one the finish reason;
- ``POST /v1beta/models/{model}:countTokens`` -> ``{"totalTokens": N}``;
- ``GET /v1beta/models?pageSize=&pageToken=`` -> ``ListModelsResponse`` pages; ``GET /v1beta/models/{model}``.

The key is read from ``x-goog-api-key`` (a ``?key=`` in the URL is recorded, so tests can
prove the driver never sends one). A key Google would refuse gets Google's answer: 400
``INVALID_ARGUMENT`` with an ``ErrorInfo`` detail whose reason is ``API_KEY_INVALID``.

Script answers per prompt (the request's last user text) with :meth:`GeminiServer.arrange`::

    server.arrange("hi", Answer(text="Hello!", thoughts="The user greets."))
    server.arrange("hi", Refusal.rate_limited(retry_delay="7s"))
    server.arrange("hi", Answer(text="a b c d", fault="cut", fault_after=2))   # connection dropped
    server.arrange("hi", Answer(block_reason="SAFETY"))                          # promptFeedback

Unscripted, it echoes: ``Echo: <last user text>``; after a function response, ``The tool
said: <result>``. Tokens are words. Standard library only, so it also runs as its own
process for the benchmark: ``python tests/servers/gemini_server.py --port 8767``.
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Answer", "GeminiServer", "Received", "Refusal", "default_models"]

BAD_KEYS = frozenset({"bad-key", "AIza-bad"})
UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


@dataclass
class Answer:
    """A 200 answer.

    ``calls`` are ``{"name", "args"}`` (``"id"`` optional, as Gemini 3 sends it);
    ``signature`` goes on the first function call (else the first part), as
    Gemini's ``thoughtSignature``. ``usage`` overrides the counted tokens
    (keys ``prompt``, ``candidates``, ``thoughts``, ``cached``, ``tool_use``).
    ``fault`` breaks a stream after ``fault_after`` text pieces: ``"cut"`` drops
    the connection, ``"malformed"`` sends a chunk that is not JSON, ``"error"``
    sends Google's error object as a chunk (``error`` is the :class:`Refusal`).
    """

    text: str = ""
    thoughts: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    signature: str | None = None
    finish_reason: str = "STOP"
    finish_message: str | None = None
    block_reason: str | None = None
    usage: dict[str, int] | None = None
    fault: str | None = None
    fault_after: int = 1
    error: Refusal | None = None
    pieces: int | None = None  # split the text into this many chunks (default: a word each)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields real answers carry


@dataclass
class Refusal:
    """An HTTP error with Google's body: ``{"error": {"code", "message", "status", "details"}}``."""

    code: int
    status: str
    message: str = "refused"
    reason: str | None = None  # an ErrorInfo detail's reason (API_KEY_INVALID, ...)
    retry_delay: str | None = None  # a RetryInfo detail's delay ("12s")
    retry_after_header: str | None = None

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.reason:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            )
        if self.retry_delay:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": self.retry_delay})
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if details:
            error["details"] = details
        return {"error": error}

    @classmethod
    def bad_key(cls) -> Refusal:
        return cls(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")

    @classmethod
    def rate_limited(cls, retry_delay: str = "7s") -> Refusal:
        return cls(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            retry_delay=retry_delay,
        )

    @classmethod
    def too_long(cls) -> Refusal:
        return cls(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        )

    @classmethod
    def of(cls, code: int, message: str = "refused") -> Refusal:
        names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # fmt: skip
        return cls(code, names.get(code, "UNKNOWN"), message)


@dataclass
class Received:
    """One request as the server got it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def default_models() -> list[dict[str, Any]]:
    """The model list the server pages through: chat models and one embedding model."""
    chat = [
        ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, 65536, True),
        ("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, 65536, True),
        ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1048576, 65536, True),
        ("gemini-2.0-flash", "Gemini 2.0 Flash", 1048576, 8192, False),
        ("gemini-3-pro-preview", "Gemini 3 Pro Preview", 1048576, 65536, True),
    ]
    models = [
        {
            "name": f"models/{name}",
            "baseModelId": name,
            "version": "001",
            "displayName": display,
            "description": f"{display}, served by the local double.",
            "inputTokenLimit": limit,
            "outputTokenLimit": output,
            "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2,
            "thinking": thinking,
        }
        for name, display, limit, output, thinking in chat
    ]
    models.append(
        {
            "name": "models/gemini-embedding-001",
            "displayName": "Gemini Embedding 001",
            "inputTokenLimit": 2048,
            "outputTokenLimit": 1,
            "supportedGenerationMethods": ["embedContent", "countTextTokens"],
        }
    )
    return models


def _words(text: str) -> int:
    return len(text.split())


def _last_user(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for content in reversed(body.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = [p["text"] for p in content.get("parts") or [] if isinstance(p, dict) and "text" in p]
            if texts:
                return "".join(texts)
    return ""


def prompt_tokens(body: Any) -> int:
    """Words in every text the prompt carries (system, turns, calls, results), plus one."""
    if not isinstance(body, dict):
        return 1
    total = 1
    system = body.get("systemInstruction") or {}
    for part in system.get("parts") or []:
        total += _words(str(part.get("text", "")))
    for content in body.get("contents") or []:
        for part in content.get("parts") or []:
            if "text" in part:
                total += _words(str(part["text"]))
            elif "functionCall" in part:
                total += 1 + _words(json.dumps(part["functionCall"].get("args") or {}))
            elif "functionResponse" in part:
                total += _words(json.dumps(part["functionResponse"].get("response") or {}))
            elif "inlineData" in part or "fileData" in part:
                total += 258  # Gemini's count for a small image
    return total


def _pieces(text: str, count: int | None) -> list[str]:
    if not text:
        return []
    words = text.split(" ")
    words = [word if i == 0 else " " + word for i, word in enumerate(words)]
    if count is None or count >= len(words):
        return words
    size = -(-len(words) // count)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


class GeminiServer:
    """``with GeminiServer() as server:`` runs it in a thread; ``server.base_url`` is the root."""

    def __init__(self, port: int = 0, keys: set[str] | None = None, page_size: int = 3) -> None:
        self.keys = keys  # None: any key but BAD_KEYS
        self.page_size = page_size  # the default page size, small so paging is exercised
        self.models = default_models()
        self.requests: list[Received] = []
        self.sent: list[tuple[str, Any]] = []  # (schema name, payload) of every JSON payload sent
        self.record = True
        self.off_spec = False  # a test sends what the document does not list (new fields, new values)
        self.default_text: str | None = None  # the unscripted answer (benchmarks), instead of the echo
        self._arranged: dict[str, list[Answer | Refusal]] = {}
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"double": self})
        self._httpd = _HTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gemini-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> GeminiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> GeminiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self._arranged.clear()
            self.requests.clear()
            self.sent.clear()
        self.keys = None
        self.off_spec = False
        self.models = default_models()

    def arrange(self, prompt: str, *answers: Answer | Refusal) -> None:
        """Answer the next calls whose last user text is ``prompt`` with ``answers``, in order."""
        with self._lock:
            self._arranged.setdefault(prompt, []).extend(answers)

    def received(self, prompt: str) -> dict[str, Any] | None:
        """The last generate body whose last user text was ``prompt``."""
        with self._lock:
            bodies = [r.body for r in self.requests if r.method == "POST" and "Content" in r.path]
        return next((b for b in reversed(bodies) if _last_user(b) == prompt), None)

    @property
    def generate_bodies(self) -> list[dict[str, Any]]:
        """Every ``generateContent`` / ``streamGenerateContent`` request body received."""
        methods = (":generateContent", ":streamGenerateContent")
        return [r.body for r in self.requests if r.method == "POST" and r.path.endswith(methods)]

    def answer(self, body: Any) -> Answer | Refusal:
        with self._lock:
            queue = self._arranged.get(_last_user(body))
            if queue:
                return queue.pop(0)
        if self.default_text is not None:
            return Answer(text=self.default_text)
        contents = body.get("contents") if isinstance(body, dict) else None
        last = contents[-1] if contents else {}
        for part in last.get("parts") or []:
            if "functionResponse" in part:
                result = part["functionResponse"].get("response") or {}
                return Answer(text=f"The tool said: {result.get('result', result.get('error', ''))}")
        return Answer(text=f"Echo: {_last_user(body)}")


def _usage(answer: Answer, body: Any, candidates: int | None = None) -> dict[str, Any]:
    given = answer.usage or {}
    prompt = given.get("prompt", prompt_tokens(body))
    thoughts = given.get("thoughts", _words(answer.thoughts))
    out = given.get("candidates", _words(answer.text) + 4 * len(answer.calls))
    if candidates is not None:
        out = min(candidates, out)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": out,
        "totalTokenCount": prompt + out + thoughts + given.get("tool_use", 0),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if given.get("cached"):
        usage["cachedContentTokenCount"] = given["cached"]
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": given["cached"]}]
    if given.get("tool_use"):
        usage["toolUsePromptTokenCount"] = given["tool_use"]
    return usage


def _call_parts(answer: Answer) -> list[dict[str, Any]]:
    parts = []
    for call in answer.calls:
        wire: dict[str, Any] = {"name": call["name"], "args": call.get("args") or {}}
        if call.get("id"):
            wire["id"] = call["id"]
        parts.append({"functionCall": wire})
    return parts


def _with_signature(parts: list[dict[str, Any]], answer: Answer) -> list[dict[str, Any]]:
    if answer.signature and parts:
        target = next((p for p in parts if "functionCall" in p), parts[-1])
        target["thoughtSignature"] = answer.signature
    return parts


def _safety() -> list[dict[str, Any]]:
    return [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    ]


def render_response(answer: Answer, body: Any, model: str, response_id: str) -> dict[str, Any]:
    """The whole answer as one ``GenerateContentResponse``."""
    payload: dict[str, Any] = {"usageMetadata": _usage(answer, body), "modelVersion": model, "responseId": response_id}
    if answer.block_reason:
        payload["promptFeedback"] = {"blockReason": answer.block_reason, "safetyRatings": _safety()}
        return payload
    parts: list[dict[str, Any]] = []
    if answer.thoughts:
        parts.append({"text": answer.thoughts, "thought": True})
    if answer.text:
        parts.append({"text": answer.text})
    parts += _call_parts(answer)
    candidate: dict[str, Any] = {"index": 0, "finishReason": answer.finish_reason}
    if parts:
        candidate["content"] = {"role": "model", "parts": _with_signature(parts, answer)}
    if answer.finish_message:
        candidate["finishMessage"] = answer.finish_message
    if answer.finish_reason in ("SAFETY", "RECITATION", "PROHIBITED_CONTENT"):
        candidate["safetyRatings"] = _safety()
    payload["candidates"] = [candidate]
    payload.update(answer.extra)
    return payload


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | OSError):
            return  # clients hanging up (cut-off tests) are expected
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    double: GeminiServer
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any, kind: str, headers: dict[str, str] | None = None) -> None:
        if self.double.record:
            self.double.sent.append((kind, payload))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:8])
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _refuse(self, refusal: Refusal) -> None:
        headers = {"retry-after": refusal.retry_after_header} if refusal.retry_after_header else None
        self._send(refusal.code, refusal.body(), "error", headers)

    def _key_ok(self) -> bool:
        key = self.headers.get("x-goog-api-key")
        if not key:
            self._refuse(Refusal(403, "PERMISSION_DENIED", UNREGISTERED))
            return False
        keys = self.double.keys
        if key in BAD_KEYS or (keys is not None and key not in keys):
            self._refuse(Refusal.bad_key())
            return False
        return True

    def _read(self) -> tuple[str, dict[str, list[str]], Any]:
        split = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"__unparseable__": raw[:200].decode("utf-8", "replace")}
        query = parse_qs(split.query)
        if self.double.record:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with self.double._lock:
                self.double.requests.append(Received(self.command, split.path, query, headers, body))
        return split.path, query, body

    def _model(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.double.models if m["name"] == name), None)

    def do_GET(self) -> None:
        path, query, _ = self._read()
        if not self._key_ok():
            return
        if path == "/v1beta/models":
            size = int((query.get("pageSize") or [self.double.page_size])[0]) or self.double.page_size
            start = int((query.get("pageToken") or ["0"])[0] or 0)
            page: dict[str, Any] = {"models": self.double.models[start : start + size]}
            if start + size < len(self.double.models):
                page["nextPageToken"] = str(start + size)
            return self._send(200, page, "ListModelsResponse")
        model = self._model(path.removeprefix("/v1beta/"))
        if path.startswith("/v1beta/models/") and model is not None:
            return self._send(200, model, "Model")
        return self._refuse(Refusal(404, "NOT_FOUND", f"Requested entity was not found: {path}"))

    def do_POST(self) -> None:
        path, query, body = self._read()
        if not self._key_ok():
            return None
        name, _, method = path.removeprefix("/v1beta/").partition(":")
        if not path.startswith("/v1beta/models/") or method not in (
            "generateContent",
            "streamGenerateContent",
            "countTokens",
        ):
            return self._refuse(Refusal(404, "NOT_FOUND", f"Requested entity was not found: {path}"))
        if not isinstance(body, dict) or "__unparseable__" in body:
            return self._refuse(Refusal(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
        if self._model(name) is None:
            return self._refuse(
                Refusal(404, "NOT_FOUND", f"{name} is not found for API version v1beta, or is not supported for "
                        f"{method}. Call ListModels to see the list of available models and their supported methods.")
            )  # fmt: skip
        if method == "countTokens":
            inner = body.get("generateContentRequest") or {"contents": body.get("contents") or []}
            return self._send(200, {"totalTokens": prompt_tokens(inner)}, "CountTokensResponse")
        answer = self.double.answer(body)
        if isinstance(answer, Refusal):
            return self._refuse(answer)
        model = name.removeprefix("models/")
        response_id = uuid.uuid4().hex[:20]
        if method == "generateContent":
            return self._send(200, render_response(answer, body, model, response_id), "GenerateContentResponse")
        if query.get("alt") != ["sse"]:
            return self._refuse(Refusal(400, "INVALID_ARGUMENT", "this double streams only with alt=sse"))
        return self._stream(answer, body, model, response_id)

    def _stream(self, answer: Answer, body: Any, model: str, response_id: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:8])
        self.end_headers()
        base = {"modelVersion": model, "responseId": response_id}
        if answer.block_reason:
            whole = render_response(answer, body, model, response_id)
            self._event(whole)
            return self._end()
        pieces = _pieces(answer.text, answer.pieces)
        produced = 0

        def chunk(parts: list[dict[str, Any]], finish: bool = False) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            if finish:
                candidate["finishReason"] = answer.finish_reason
                if answer.finish_message:
                    candidate["finishMessage"] = answer.finish_message
                if answer.finish_reason in ("SAFETY", "RECITATION", "PROHIBITED_CONTENT"):
                    candidate["safetyRatings"] = _safety()
            usage = _usage(answer, body, None if finish else produced)
            return {"candidates": [candidate], "usageMetadata": usage, **base}

        if answer.thoughts:
            self._event(chunk([{"text": answer.thoughts, "thought": True}]))
        for index, piece in enumerate(pieces):
            if answer.fault is not None and index == answer.fault_after:
                return self._fault(answer)
            produced += _words(piece)
            last = index == len(pieces) - 1 and not answer.calls
            parts = [{"text": piece}]
            if last:
                _with_signature(parts, answer)
            self._event(chunk(parts, finish=last))
        if answer.fault is not None and answer.fault_after >= len(pieces):
            return self._fault(answer)
        if answer.calls:
            produced += 4 * len(answer.calls)
            self._event(chunk(_with_signature(_call_parts(answer), answer), finish=True))
        elif not pieces:
            self._event(chunk([{"text": ""}], finish=True))
        return self._end()

    def _fault(self, answer: Answer) -> None:
        if answer.fault == "cut":
            self.wfile.flush()
            self.close_connection = True
            return  # no terminating chunk: the body is cut off mid-way
        if answer.fault == "malformed":
            self._raw(b'data: {"candidates": [{"content": {"parts": [{"text": "oops"\n\n')
            return self._end()
        refusal = answer.error or Refusal(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        self._event(refusal.body(), kind="error")
        return self._end()

    def _raw(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: dict[str, Any], kind: str = "GenerateContentResponse") -> None:
        if self.double.record:
            self.double.sent.append((kind, payload))
        self._raw(b"data: " + json.dumps(payload).encode() + b"\r\n\r\n")

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local Generative Language API v1beta server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--no-record", action="store_true", help="keep no traffic (long benchmark runs)")
    parser.add_argument("--words", type=int, help="answer every call with this many words (a stream chunk each)")
    args = parser.parse_args()
    server = GeminiServer(port=args.port)
    server.record = not args.no_record
    if args.words:
        server.default_text = " ".join(f"w{i}" for i in range(args.words))
    print(f"Gemini server on {server.base_url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
