"""CPU and memory of an OpenAI call through ai-core, next to raw httpx2 and the openai SDK.

    .venv/bin/python benchmarks/bench_openai.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_openai.py --quick    # smaller counts

All clients call the same local server (tests/servers/openai_compat.py, its
own process, so only the client's CPU is counted), at 1 and at 50 concurrent
requests. Each measurement runs in a fresh worker process, so imports, pools
and garbage from one client never bill another. Reported, with the ratio to
raw httpx2 in the same run:

- unary: CPU microseconds per request (process time, warm pool);
- streaming: CPU microseconds per streamed chunk (the server sends N text
  chunks plus role, finish and usage chunks; the per-chunk figure divides the
  whole stream's CPU by N);
- memory: RSS of a process after 2,000 calls.

Contenders: ``httpx2`` (raw client, default transport: POST, ``.json()``;
streaming parses each ``data:`` line with ``json.loads``), ``httpx2+aiohttp``
(the same over the aiohttp transport ai-core uses on asyncio), ``openai-sdk``
(``AsyncOpenAI``), ``driver`` (ai-core's OpenAI driver alone),
``ai-core`` (the whole pipeline: ``AI(persistence=False)`` with cost and events
on, a listener attached), ``ai-core-bare`` (the same without a listener, to
show what event delivery costs) and ``ai-core+db`` (with SQLite persistence).
Targets (ISSUE 4): unary <= 1.3x httpx2; streaming <= 100 µs per chunk;
RSS <= 1.5x httpx2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _local_server import start_server

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"
PAYLOAD = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
KEY = "sk-bench-0000000000000000"
CONTENDERS = ("httpx2", "httpx2+aiohttp", "openai-sdk", "driver", "ai-core-bare", "ai-core", "ai-core+db")


# ---------------------------------------------------------------------------
# Workers: one contender, one mode, in its own process
# ---------------------------------------------------------------------------


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def make_client(
    contender: str, url: str, tmp: str
) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    """(unary call, streamed call returning its chunk count, close) for one contender."""
    if contender in ("httpx2", "httpx2+aiohttp"):
        import httpx2

        transport: dict[str, Any] = {}
        if contender == "httpx2+aiohttp":  # the transport ai-core uses by default on asyncio
            from ai_core.drivers.http import AiohttpTransport

            transport = {"transport": AiohttpTransport()}
        client = httpx2.AsyncClient(
            base_url=url,
            timeout=60,
            limits=httpx2.Limits(max_connections=100, max_keepalive_connections=100),
            **transport,
        )
        headers = {"Authorization": f"Bearer {KEY}"}
        stream_payload = {**PAYLOAD, "stream": True, "stream_options": {"include_usage": True}}

        async def unary() -> Any:
            response = await client.post("/chat/completions", json=PAYLOAD, headers=headers)
            response.raise_for_status()
            return response.json()

        async def streamed() -> int:
            count = 0
            async with client.stream("POST", "/chat/completions", json=stream_payload, headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
                        count += 1
            return count

        return unary, streamed, client.aclose

    if contender == "openai-sdk":
        import openai
        from openai import _base_client

        http = getattr(_base_client, "httpx2", None) or _base_client.httpx  # openai 3 moved to httpx2
        sdk = openai.AsyncOpenAI(
            api_key=KEY,
            base_url=url,
            max_retries=0,
            http_client=http.AsyncClient(limits=http.Limits(max_connections=100, max_keepalive_connections=100)),
        )

        async def unary() -> Any:
            return await sdk.chat.completions.create(model=MODEL, messages=PAYLOAD["messages"])

        async def streamed() -> int:
            count = 0
            stream = await sdk.chat.completions.create(
                model=MODEL, messages=PAYLOAD["messages"], stream=True, stream_options={"include_usage": True}
            )
            async for _chunk in stream:
                count += 1
            return count

        return unary, streamed, sdk.close

    if contender == "driver":
        from pydantic import SecretStr

        from ai_core import ChatRequest, Message, ProviderConfig
        from ai_openai.driver import OpenAIDriver

        driver = OpenAIDriver(ProviderConfig(provider="openai", api_key=SecretStr(KEY), base_url=url))
        request = ChatRequest(provider="openai", model=MODEL, messages=[Message.user("Hello")])

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
    listeners = [] if contender == "ai-core-bare" else [listener]
    settings: dict[str, Any] = {"persistence": False}
    if contender == "ai-core+db":
        settings = {"persistence": True, "database_url": f"sqlite:///{tmp}/bench.db"}
    ai = AI(
        providers={"openai": {"api_key": KEY, "base_url": url, "retry_attempts": 0}}, listeners=listeners, **settings
    )

    async def unary() -> Any:
        response = await ai.conversation().model(f"openai/{MODEL}").user("Hello").asend()
        assert response.cost is not None and response.cost.total is not None
        return response

    async def streamed() -> int:
        count = 0
        async for _event in ai.conversation().model(f"openai/{MODEL}").user("Hello").astream():
            count += 1
        return count

    return unary, streamed, ai.aclose


async def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        before_import = rss_kib()
        unary, streamed, close = await make_client(args.contender, args.url, tmp)
        call: Callable[[], Awaitable[Any]] = streamed if args.mode == "stream" else unary
        for _ in range(args.warmup):
            await call()
        after_warmup = rss_kib()
        queue = iter(range(args.n))

        async def worker() -> None:
            for _ in queue:
                await call()

        wall = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        result = {
            "cpu_us_per_call": cpu / args.n * 1e6,
            "wall_s": wall,
            "rss_kib": rss_kib(),
            "rss_kib_before_import": before_import,
            "rss_kib_after_warmup": after_warmup,
        }
        if args.mode == "stream":
            result["cpu_us_per_chunk"] = result["cpu_us_per_call"] / args.chunks
        await close()
        return result


# ---------------------------------------------------------------------------
# The orchestrator
# ---------------------------------------------------------------------------


def measure(contender: str, mode: str, url: str, n: int, concurrency: int, chunks: int, warmup: int) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--worker", "--contender", contender, "--mode", mode, "--url", url,
        "-n", str(n), "--concurrency", str(concurrency), "--chunks", str(chunks), "--warmup", str(warmup),
    ]  # fmt: skip
    env = {
        **os.environ,
        "AI_PERSISTENCE": "off",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")])),
    }
    for name in ("AI_OPENAI_API_KEY", "OPENAI_API_KEY", "AI_OPENAI_BASE_URL"):
        env.pop(name, None)
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{contender} {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(title: str, rows: dict[str, dict[str, Any]], key: str, unit: str) -> None:
    base = rows["httpx2"][key]
    print(f"\n{title}")
    print(f"  {'client':<12} {unit:>16} {'x httpx2':>9}")
    for name, row in rows.items():
        print(f"  {name:<12} {row[key]:>16.1f} {row[key] / base:>9.2f}")


def orchestrate(args: argparse.Namespace) -> None:
    results: dict[str, Any] = {}
    contenders = args.contenders or list(CONTENDERS)
    server, url = start_server(1, coalesce=False)
    try:
        for concurrency in (1, 50):
            rows = {
                c: measure(c, "unary", url, args.requests, concurrency, 1, args.warmup)
                for c in ["httpx2", *[c for c in contenders if c != "httpx2"]]
            }
            results[f"unary_c{concurrency}"] = rows
            table(
                f"unary, {concurrency} concurrent, {args.requests} requests", rows, "cpu_us_per_call", "CPU µs/request"
            )
        rows = {
            c: measure(c, "unary", url, args.rss_calls, 1, 1, 10)
            for c in ["httpx2", *[c for c in contenders if c != "httpx2"]]
        }
        results["rss"] = rows
        for row in rows.values():
            row["rss_mib"] = row["rss_kib"] / 1024
            row["growth_mib"] = (row["rss_kib"] - row["rss_kib_after_warmup"]) / 1024
        table(f"memory: RSS after {args.rss_calls} calls", rows, "rss_mib", "RSS MiB")
        print(
            "  (growth over the measured calls, MiB: "
            + ", ".join(f"{k} {v['growth_mib']:.1f}" for k, v in rows.items())
            + ")"
        )
    finally:
        server.terminate()
        server.wait(10)

    for coalesce in (False, True):
        server, url = start_server(args.chunks, coalesce=coalesce)
        try:
            for concurrency in (1, 50):
                n = args.stream_requests
                rows = {
                    c: measure(c, "stream", url, n, concurrency, args.chunks, 5)
                    for c in ["httpx2", *[c for c in contenders if c != "httpx2"]]
                }
                label = "one write per chunk" if not coalesce else "whole stream in one write"
                results[f"stream_c{concurrency}_{'coalesced' if coalesce else 'flushed'}"] = rows
                table(
                    f"streaming ({label}), {concurrency} concurrent, {n} streams x {args.chunks} chunks",
                    rows, "cpu_us_per_chunk", "CPU µs/chunk",
                )  # fmt: skip
        finally:
            server.terminate()
            server.wait(10)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--stream-requests", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=100, help="text chunks per stream")
    parser.add_argument("--rss-calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--contenders", nargs="*", choices=CONTENDERS)
    parser.add_argument("--json", help="also write the raw results to this file")
    # worker mode (internal)
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
        args.requests, args.stream_requests, args.chunks, args.rss_calls = 200, 20, 50, 500
    orchestrate(args)


if __name__ == "__main__":
    main()
