"""A local Echo Wire v1 server, for tests and for trying the plugin without an account.

Unless told otherwise it echoes: ``Echo: <last user text>``, or ``The tool said: <output>``
after a tool result; tokens are words. Tests script answers per prompt with
:meth:`EchoWireServer.arrange`. It binds 127.0.0.1 only.

    python -m echo_wire.server --port 8766      # or: echo-wire-server
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """A successful answer. ``meter`` overrides the counted tokens; ``fault_after`` fails
    a stream in-band after that many text pieces, with ``fault``."""

    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # {"ref", "tool", "input"}
    meter: dict[str, int] | None = None
    fault_after: int | None = None
    fault: dict[str, Any] = field(default_factory=lambda: {"status": 503, "message": "overloaded"})


@dataclass
class Refusal:
    """An HTTP error with Echo Wire's ``{"fault": ...}`` body."""

    status: int
    message: str = "refused"
    kind: str = "refused"
    retry_after: float | None = None


def _words(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else " " + word for i, word in enumerate(words)] if text else []


class EchoWireServer:
    """``with EchoWireServer() as server:`` runs the server in a thread; ``server.base_url``."""

    def __init__(self, port: int = 0, keys: set[str] | None = None) -> None:
        self.keys = keys  # None: any key but "bad-key"
        self.requests: list[dict[str, Any]] = []
        self._arranged: dict[str, list[Answer | Refusal]] = {}
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"double": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def arrange(self, prompt: str, *answers: Answer | Refusal) -> None:
        """Answer the next calls whose last user text is ``prompt`` with ``answers``, in order."""
        with self._lock:
            self._arranged.setdefault(prompt, []).extend(answers)

    def received(self, prompt: str) -> dict[str, Any] | None:
        """The last request body whose last user text was ``prompt``."""
        with self._lock:
            return next((body for body in reversed(self.requests) if _last_user(body) == prompt), None)

    def answer(self, body: dict[str, Any]) -> Answer | Refusal:
        with self._lock:
            self.requests.append(body)
            queue = self._arranged.get(_last_user(body))
            if queue:
                return queue.pop(0)
        turns = body.get("turns") or []
        if turns and turns[-1].get("from") == "tool":
            return Answer(text=f"The tool said: {turns[-1].get('output', '')}")
        return Answer(text=f"Echo: {_last_user(body)}")

    def __enter__(self) -> EchoWireServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _last_user(body: dict[str, Any]) -> str:
    users = [t.get("text", "") for t in body.get("turns") or [] if t.get("from") == "user"]
    return users[-1] if users else ""


class _Handler(BaseHTTPRequestHandler):
    double: EchoWireServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:8])
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _key_ok(self) -> bool:
        key, keys = self.headers.get("x-echo-key"), self.double.keys
        if not key or key == "bad-key" or (keys is not None and key not in keys):
            self._send(401, {"fault": {"message": "unknown Echo key", "kind": "bad_key"}})
            return False
        return True

    def do_GET(self) -> None:
        if not self._key_ok():
            return
        if self.path == "/v1/whoami":
            self._send(200, {"ok": True})
        else:
            self._send(404, {"fault": {"message": f"no route {self.path}", "kind": "not_found"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path != "/v1/generate":
            return self._send(404, {"fault": {"message": f"no route {self.path}", "kind": "not_found"}})
        if not self._key_ok():
            return None
        answer = self.double.answer(body)
        if isinstance(answer, Refusal):
            headers = {"retry-after": f"{answer.retry_after:g}"} if answer.retry_after is not None else {}
            fault = {"message": answer.message, "kind": answer.kind}
            return self._send(answer.status, {"fault": fault}, headers)
        prompt = sum(_words(t.get("text") or t.get("output") or "") for t in body.get("turns") or [])
        meter = answer.meter or {"fresh": prompt + _words(body.get("instructions", "")), "cache_read": 0}
        meter = {"cache_write": 0, **meter, "out": meter.get("out", _words(answer.text) + 4 * len(answer.calls))}
        stop = "calls" if answer.calls else "done"
        if not body.get("stream"):
            return self._send(200, {"id": uuid.uuid4().hex, "text": answer.text, "calls": answer.calls,
                                    "stop": stop, "meter": meter})  # fmt: skip
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.end_headers()
        self._line({"meter": {**meter, "out": 0}})
        for count, piece in enumerate(_pieces(answer.text)):
            if count == answer.fault_after:
                return self._line({"fault": answer.fault})
            self._line({"text": piece})
            self._line({"meter": {**meter, "out": min(count + 1, meter["out"])}})
        for slot, call in enumerate(answer.calls):
            self._line({"call": {"slot": slot, "ref": call["ref"], "tool": call["tool"]}})
            arguments = json.dumps(call.get("input") or {})
            for start in range(0, len(arguments), 8):  # the JSON input in pieces, as real streams do
                self._line({"call": {"slot": slot, "input": arguments[start : start + 8]}})
        self._line({"meter": meter})
        self._line({"stop": stop, "id": uuid.uuid4().hex})
        return None

    def _line(self, payload: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(payload).encode() + b"\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local Echo Wire v1 server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8766)
    server = EchoWireServer(port=parser.parse_args().port)
    print(f"Echo Wire server on {server.base_url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
