"""A local double of Acme's API, for tests and for trying the plugin offline.

It answers ``Acme says: <last user text>``; tokens are words. The key
``bad-key`` gets a 401, the prompt ``rate-limit-me`` a 429 (an in-stream error
when streaming). It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _words(text: str) -> int:
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    requests_seen: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path != "/v1/chat":
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        payload = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        self.server.requests_seen.append(payload)  # type: ignore[attr-defined]
        key = self.headers.get("x-acme-key")
        if not key or key == "bad-key":
            return self._json(401, {"error": {"message": "invalid Acme key", "code": "bad_key"}})
        turns = payload.get("turns") or []
        last = turns[-1]["text"] if turns else ""
        prompt_tokens = sum(_words(t["text"]) for t in turns) + _words(payload.get("system", ""))
        reply = f"Acme says: {last}"
        end = {"id": uuid.uuid4().hex, "stop": "done", "tokens": {"prompt": prompt_tokens, "reply": _words(reply)}}
        if not payload.get("stream"):
            if last == "rate-limit-me":
                return self._json(429, {"error": {"message": "slow down"}})
            return self._json(200, {**end, "reply": reply})
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.end_headers()
        if last == "rate-limit-me":
            self.wfile.write(json.dumps({"error": {"status": 429, "message": "slow down"}}).encode() + b"\n")
            return
        for index, word in enumerate(reply.split(" ")):
            self.wfile.write(json.dumps({"piece": word if index == 0 else " " + word}).encode() + b"\n")
            self.wfile.flush()
        self.wfile.write(json.dumps({"end": end}).encode() + b"\n")


class AcmeServer:
    """``with AcmeServer() as server: server.base_url`` runs the double in a thread."""

    def __init__(self, port: int = 0) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.requests_seen = []  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._httpd.requests_seen  # type: ignore[attr-defined,no-any-return]

    def __enter__(self) -> AcmeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the local Acme API double on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    port = parser.parse_args().port
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    httpd.requests_seen = []  # type: ignore[attr-defined]
    print(f"Acme double on http://127.0.0.1:{httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
