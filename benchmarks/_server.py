"""A minimal OpenAI-shaped HTTP server for benchmarks, run in its own process.

It answers POST /v1/chat/completions with a fixed completion (or an SSE stream
of N chunks), so the client side's CPU can be measured alone.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 9,
        "total_tokens": 21,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}


def chunk(content: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini"}
    body["choices"] = (
        []
        if usage
        else [{"index": 0, "delta": {} if content is None else {"content": content}, "finish_reason": finish}]
    )
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def serve(port: int, chunks: int) -> None:
    from aiohttp import web

    body = json.dumps(COMPLETION).encode()
    stream_body = b"".join(
        [chunk("tok ") for _ in range(chunks)]
        + [chunk(None, "stop"), chunk(None, usage=COMPLETION["usage"]), b"data: [DONE]\n\n"]
    )

    async def completions(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        if payload.get("stream"):
            return web.Response(body=stream_body, content_type="text/event-stream")
        return web.Response(body=body, content_type="application/json")

    async def models(request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "bench"}]}
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/v1/models", models)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(chunks: int = 50) -> Iterator[str]:
    """Start the server in a subprocess; yield its base URL (…/v1)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, str(port), str(chunks)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("benchmark server did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
