"""A real HTTP server on 127.0.0.1 that speaks Ollama's native API.

Built from ../shared/specs/ollama-api.md and ollama-openapi.yaml: ``POST
/api/chat`` (NDJSON stream with usage on the ``done`` line, or one JSON
object), ``GET /api/tags``, ``POST /api/show`` (``capabilities``,
``model_info``), ``POST /api/pull`` (a progress stream ending in ``success``,
or an ``{"error": ...}`` line for a name the library lacks), ``GET
/api/version``, and ``{"error": "..."}`` bodies for HTTP errors. HTTP/1.1 with
keep-alive and chunked streams, so a client reuses connections as with a real
Ollama. Standard library only: it also runs as its own process for the
benchmark (``python tests/servers/ollama_server.py --port 11500``).

Unless told otherwise it echoes (``Echo: <last user text>``, or ``The tool
said: <result>`` after a tool result); tokens are words. Script per prompt
(the last user message's text) with :meth:`OllamaServer.arrange`::

    server.arrange("hi", Answer(text="Hello", thinking="Greet back."))
    server.arrange("hi", Answer(text="Hello there", cut_after=1))      # connection dropped after 1 piece
    server.arrange("hi", Answer(text="Hello there", error_after=1))    # {"error": ...} line after 1 piece
    server.arrange("hi", Answer(text="Hello there", garbage_after=1))  # a line that is not JSON
    server.arrange("hi", Refusal(429, "slow down", retry_after=2))
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LIBRARY", "Answer", "OllamaServer", "Refusal", "show_payload"]


@dataclass
class Answer:
    """A chat answer. Counts default to words; ``*_after`` fail a stream after that many pieces."""

    text: str = ""
    thinking: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "arguments"} (+ "id")
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    done_reason: str = "stop"
    cut_after: int | None = None
    error_after: int | None = None
    error: str = "an error was encountered while running the model"
    garbage_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields a newer server adds


@dataclass
class Refusal:
    """An HTTP error with Ollama's ``{"error": "..."}`` body."""

    status: int
    message: str = "refused"
    retry_after: float | None = None


# What /api/show says per model; "library" names are pullable, "pulled" ones answer chats.
LIBRARY: dict[str, list[str]] = {
    "llama3.2": ["completion", "tools"],
    "llama3.2:1b": ["completion", "tools"],
    "llava": ["completion", "vision"],
    "qwen3": ["completion", "tools", "thinking"],
    "gemma4": ["completion", "vision", "tools", "thinking"],
    "nomic-embed-text": ["embedding"],
}


def show_payload(name: str, capabilities: list[str]) -> dict[str, Any]:
    family = name.split(":")[0].replace(".", "")
    return {
        "parameters": "temperature 0.7\nnum_ctx 2048",
        "license": "Example license",
        "modified_at": "2025-08-14T15:49:43.634137516-07:00",
        "template": "{{ .Prompt }}",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
        "capabilities": capabilities,
        "model_info": {
            "general.architecture": family,
            f"{family}.context_length": 131072,
            f"{family}.embedding_length": 3072,
            "tokenizer.ggml.tokens": None,
        },
    }


def _words(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)] if text else []


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaServer:
    """``with OllamaServer() as server:`` runs it in a thread; ``server.base_url``."""

    def __init__(self, port: int = 0, pulled: list[str] | None = None, words: int | None = None) -> None:
        self.pulled: list[str] = list(pulled if pulled is not None else ["llama3.2", "qwen3", "llava"])
        self.words = words  # answer every chat with this many words instead of echoing (the benchmark)
        self.record = True
        self.api_keys: set[str] | None = None  # None: no key needed (as Ollama)
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body)
        self.pull_chunk = 1 << 20
        self._arranged: dict[str, list[Answer | Refusal]] = {}
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"double": self})
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self._arranged.clear()
            self.requests.clear()
        self.api_keys = None
        self.pulled = ["llama3.2", "qwen3", "llava"]

    def arrange(self, prompt: str, *answers: Answer | Refusal) -> None:
        """Answer the next chats whose last user text is ``prompt`` with ``answers``, in order."""
        with self._lock:
            self._arranged.setdefault(prompt, []).extend(answers)

    def bodies(self, path: str = "/api/chat") -> list[Any]:
        with self._lock:
            return [body for _, p, body in self.requests if p == path]

    def received(self, prompt: str) -> dict[str, Any] | None:
        """The last chat body whose last user text was ``prompt``."""
        return next((b for b in reversed(self.bodies()) if _last_user(b) == prompt), None)

    def answer(self, body: dict[str, Any]) -> Answer | Refusal:
        if self.words is not None:
            return Answer(text=" ".join(["word"] * self.words))
        with self._lock:
            queue = self._arranged.get(_last_user(body))
            if queue:
                return queue.pop(0)
        messages = body.get("messages") or []
        if messages and messages[-1].get("role") == "tool":
            return Answer(text=f"The tool said: {messages[-1].get('content', '')}")
        return Answer(text=f"Echo: {_last_user(body)}")

    def start(self) -> OllamaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OllamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # 50 clients connecting at once must not overflow the listen backlog (5)
    daemon_threads = True


def _last_user(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    users = [m.get("content", "") for m in messages or [] if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users else ""


class _Handler(BaseHTTPRequestHandler):
    double: OllamaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the client left mid-answer (as tests make it)
            pass

    # -- plumbing --------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._headers_buffer.append(b"\r\n" + data)  # headers and body in one write, as Ollama sends them
        self.flush_headers()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _line(self, payload: dict[str, Any]) -> None:
        self._chunk(json.dumps(payload).encode() + b"\n")

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        """Drop the connection mid-body (no terminating chunk)."""
        self.wfile.flush()
        self.close_connection = True
        try:
            import socket

            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def _key_ok(self) -> bool:
        keys = self.double.api_keys
        if keys is None:
            return True
        auth = self.headers.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in keys:
            return True
        self._send(401, {"error": "unauthorized"})
        return False

    # -- routes ----------------------------------------------------------------

    def do_GET(self) -> None:
        if self.double.record:
            with self.double._lock:
                self.double.requests.append(("GET", self.path, None))
        if not self._key_ok():
            return
        if self.path == "/api/tags":
            models = [
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2025-10-03T23:34:03.409490317-07:00",
                    "size": 2019393189,
                    "digest": hashlib.sha256(name.encode()).hexdigest(),
                    "details": {
                        "format": "gguf",
                        "family": "llama",
                        "families": ["llama"],
                        "parameter_size": "3.2B",
                        "quantization_level": "Q4_K_M",
                    },
                }
                for name in self.double.pulled
            ]
            self._send(200, {"models": models})
        elif self.path == "/api/version":
            self._send(200, {"version": "0.12.6"})
        else:
            self._send(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        body = self._body()
        if self.double.record:
            with self.double._lock:
                self.double.requests.append(("POST", self.path, body))
        if not isinstance(body, dict):
            return self._send(400, {"error": "invalid character looking for beginning of value"})
        if not self._key_ok():
            return None
        if self.path == "/api/chat":
            return self._chat(body)
        if self.path == "/api/show":
            name = str(body.get("model", ""))
            if name not in self.double.pulled:
                return self._send(404, {"error": f"model '{name}' not found"})
            return self._send(200, show_payload(name, LIBRARY.get(name, ["completion"])))
        if self.path == "/api/pull":
            return self._pull(str(body.get("model", "")), body.get("stream", True))
        return self._send(404, {"error": "404 page not found"})

    def _pull(self, name: str, stream: Any) -> None:
        self._start_stream()
        self._line({"status": "pulling manifest"})
        if name not in LIBRARY:
            self._line({"error": "pull model manifest: file does not exist"})
            return self._end_stream()
        total = 3 * self.double.pull_chunk + 1234
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        for completed in (0, self.double.pull_chunk, 2 * self.double.pull_chunk, total):
            self._line({"status": f"pulling {digest[7:19]}", "digest": digest, "total": total, "completed": completed})
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            self._line({"status": status})
        if name not in self.double.pulled:
            self.double.pulled.append(name)
        return self._end_stream()

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        if model not in self.double.pulled:
            return self._send(404, {"error": f'model "{model}" not found, try pulling it first'})
        answer = self.double.answer(body)
        if isinstance(answer, Refusal):
            headers = {"retry-after": f"{answer.retry_after:g}"} if answer.retry_after is not None else {}
            return self._send(answer.status, {"error": answer.message}, headers)
        prompt = sum(_words(str(m.get("content") or "")) for m in body.get("messages") or [])
        prompt_eval = answer.prompt_eval_count if answer.prompt_eval_count is not None else prompt
        calls = [
            {
                **({"id": c["id"]} if "id" in c else {}),
                "function": {"index": i, "name": c["name"], "arguments": c.get("arguments", {})},
            }
            for i, c in enumerate(answer.calls)
        ]
        out = answer.eval_count
        if out is None:
            out = _words(answer.text) + _words(answer.thinking) + 4 * len(calls)
        final = {
            "model": model,
            "created_at": _now(),
            "done": True,
            "done_reason": answer.done_reason,
            "total_duration": 182242375,
            "load_duration": 41295167,
            "prompt_eval_count": prompt_eval,
            "prompt_eval_duration": 24573166,
            "eval_count": out,
            "eval_duration": 115959084,
            **answer.extra,
        }
        if body.get("stream", True) is False:
            message: dict[str, Any] = {"role": "assistant", "content": answer.text}
            if answer.thinking:
                message["thinking"] = answer.thinking
            if calls:
                message["tool_calls"] = calls
            return self._send(200, {**final, "message": message})
        self._start_stream()
        pieces = [("thinking", p) for p in _pieces(answer.thinking)] + [("content", p) for p in _pieces(answer.text)]
        for count, (kind, piece) in enumerate(pieces):
            if count == answer.cut_after:
                self._chunk(b'{"model":"' + model.encode() + b'","mess')
                return self._cut()
            if count == answer.error_after:
                self._line({"error": answer.error})
                return self._end_stream()
            if count == answer.garbage_after:
                self._chunk(b"<html>502 Bad Gateway</html>\n")
            msg = {"role": "assistant", "content": piece if kind == "content" else ""}
            if kind == "thinking":
                msg["thinking"] = piece
            self._line({"model": model, "created_at": _now(), "message": msg, "done": False, **answer.extra})
        if calls:  # Ollama sends each tool call whole, in a line of its own
            self._line(
                {
                    "model": model,
                    "created_at": _now(),
                    "done": False,
                    "message": {"role": "assistant", "content": "", "tool_calls": calls},
                }
            )
        self._line({**final, "message": {"role": "assistant", "content": ""}})
        return self._end_stream()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local Ollama API double on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=11500)
    parser.add_argument("--words", type=int, help="answer every chat with this many words (streamed one per line)")
    parser.add_argument("--no-record", action="store_true", help="keep no request bodies (long benchmark runs)")
    args = parser.parse_args()
    server = OllamaServer(port=args.port, words=args.words)
    server.record = not args.no_record
    print(f"Ollama double on {server.base_url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
