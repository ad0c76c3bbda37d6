"""CPU of an Ollama call through ai-core, next to a raw httpx2 client speaking the same wire format.

    .venv/bin/python benchmarks/bench_ollama.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_ollama.py --quick    # smaller counts

All clients call the same local Ollama double (tests/servers/ollama_server.py, in its own
process, so only the client's CPU is counted), at 1 and at 50 concurrent requests. Each
measurement runs in a fresh worker process. Reported, with the ratio to raw httpx2 in the
same run:

- unary: CPU microseconds per ``POST /api/chat`` with ``"stream": false`` (process time, warm pool);
- streaming: CPU microseconds per streamed chunk (the server sends N NDJSON lines of one word
  each, then the ``done`` line with the usage; the per-chunk figure divides the whole
  stream's CPU by N).

Contenders: ``httpx2`` (the raw floor: POST, ``.json()``; streaming parses each line with
``json.loads``), ``httpx2+aiohttp`` (the same over the aiohttp transport ai-core uses on
asyncio), ``driver`` (ai-ollama's driver alone), ``ai-core`` (the whole pipeline:
``AI(persistence=False)`` with cost and events on, a listener attached) and ``ai-core-bare``
(the same without a listener). Targets (issue 9): the driver at most 1.0x its raw floor per
request, at most 60 µs of CPU per chunk with cost and events on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "servers" / "ollama_server.py"
MODEL = "llama3.2"
CONTENDERS = ("httpx2", "httpx2+aiohttp", "driver", "ai-core-bare", "ai-core")


def payload(stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "stream": stream}


def start_server(words: int) -> tuple[subprocess.Popen[str], str]:
    """The double in its own process, on a free port of 127.0.0.1; returns it and its URL."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(SERVER), "--port", str(port), "--no-record", "--words", str(words)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if "http://127.0.0.1:" not in line:
        process.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


async def make_client(
    contender: str, url: str
) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    """(unary call, streamed call returning its event count, close) for one contender."""
    if contender in ("httpx2", "httpx2+aiohttp"):
        import httpx2

        transport: dict[str, Any] = {}
        if contender == "httpx2+aiohttp":
            from ai_core.drivers.http import AiohttpTransport

            transport = {"transport": AiohttpTransport()}
        client = httpx2.AsyncClient(
            base_url=url,
            timeout=60,
            limits=httpx2.Limits(max_connections=100, max_keepalive_connections=100),
            **transport,
        )
        unary_body, stream_body = payload(False), payload(True)

        async def unary() -> Any:
            response = await client.post("/api/chat", json=unary_body)
            response.raise_for_status()
            return response.json()

        async def streamed() -> int:
            count = 0
            async with client.stream("POST", "/api/chat", json=stream_body) as response:
                async for line in response.aiter_lines():
                    if line:
                        json.loads(line)
                        count += 1
            return count

        return unary, streamed, client.aclose

    if contender == "driver":
        from ai_core import ChatRequest, Message, ProviderConfig
        from ai_ollama.driver import OllamaDriver

        driver = OllamaDriver(ProviderConfig(provider="ollama", base_url=url))
        request = ChatRequest(provider="ollama", model=MODEL, messages=[Message.user("Hello")])

        async def unary() -> Any:
            return await driver.send(request)

        async def streamed() -> int:
            count = 0
            async for _event in driver.stream(request):
                count += 1
            return count

        return unary, streamed, driver.aclose

    from ai_core import AI, Listener, ResponseGenerated

    seen: list[int] = []
    listener = Listener(events=(ResponseGenerated,), handler=lambda event: seen.append(1))
    ai = AI(
        persistence=False,
        providers={"ollama": {"base_url": url, "retry_attempts": 0}},
        listeners=[] if contender == "ai-core-bare" else [listener],
    )

    async def unary() -> Any:
        response = await ai.conversation().model(f"ollama/{MODEL}").user("Hello").asend()
        assert response.cost is not None and response.cost.total is not None  # priced: a known zero
        return response

    async def streamed() -> int:
        count = 0
        async for _event in ai.conversation().model(f"ollama/{MODEL}").user("Hello").astream():
            count += 1
        return count

    return unary, streamed, ai.aclose


async def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    unary, streamed, close = await make_client(args.contender, args.url)
    call: Callable[[], Awaitable[Any]] = streamed if args.mode == "stream" else unary
    for _ in range(args.warmup):
        await call()
    queue = iter(range(args.n))

    async def worker() -> None:
        for _ in queue:
            await call()

    wall = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    cpu = time.process_time() - cpu
    result = {"cpu_us_per_call": cpu / args.n * 1e6, "wall_s": time.perf_counter() - wall}
    if args.mode == "stream":
        result["cpu_us_per_chunk"] = result["cpu_us_per_call"] / args.chunks
    await close()
    return result


def measure(contender: str, mode: str, url: str, n: int, concurrency: int, chunks: int, warmup: int) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--worker", "--contender", contender, "--mode", mode, "--url", url,
        "-n", str(n), "--concurrency", str(concurrency), "--chunks", str(chunks), "--warmup", str(warmup),
    ]  # fmt: skip
    env = {**os.environ, "AI_PERSISTENCE": "off"}
    for name in ("AI_OLLAMA_BASE_URL", "OLLAMA_HOST"):
        env.pop(name, None)
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{contender} {mode} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def table(title: str, rows: dict[str, dict[str, Any]], key: str, unit: str) -> None:
    base = rows["httpx2"][key]
    print(f"\n{title}")
    print(f"  {'client':<15} {unit:>16} {'x httpx2':>9}")
    for name, row in rows.items():
        print(f"  {name:<15} {row[key]:>16.1f} {row[key] / base:>9.2f}")


def orchestrate(args: argparse.Namespace) -> None:
    results: dict[str, Any] = {}
    contenders = ["httpx2", *[c for c in (args.contenders or CONTENDERS) if c != "httpx2"]]
    server, url = start_server(words=1)
    try:
        for concurrency in (1, 50):
            rows = {c: measure(c, "unary", url, args.requests, concurrency, 1, args.warmup) for c in contenders}
            results[f"unary_c{concurrency}"] = rows
            table(f"unary, {concurrency} concurrent, {args.requests} requests", rows, "cpu_us_per_call",
                  "CPU µs/request")  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    server, url = start_server(words=args.chunks)
    try:
        for concurrency in (1, 50):
            n = args.stream_requests
            rows = {c: measure(c, "stream", url, n, concurrency, args.chunks, 5) for c in contenders}
            results[f"stream_c{concurrency}"] = rows
            table(f"streaming, {concurrency} concurrent, {n} streams x {args.chunks} chunks", rows,
                  "cpu_us_per_chunk", "CPU µs/chunk")  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--stream-requests", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=100, help="text chunks per stream")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--contenders", nargs="*", choices=CONTENDERS)
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["unary", "stream"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(run_worker(args))))
        return
    if args.quick:
        args.requests, args.stream_requests, args.chunks = 200, 20, 50
    orchestrate(args)


if __name__ == "__main__":
    main()
