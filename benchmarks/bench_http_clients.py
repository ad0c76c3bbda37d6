"""Which HTTP client should drivers use? CPU per request, side by side.

    python3 dev.py bench http_clients [--requests N]

Each client POSTs the same JSON to the same local server (tests/servers/openai_compat.py
in a separate process, so only the client's CPU is counted) at 1 and at 50 concurrent requests.
Reported: CPU microseconds per request (process time) and the ratio to httpx2.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from _local_server import running_server

PAYLOAD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}


async def measure(send: Callable[[], Awaitable[object]], total: int, concurrency: int) -> float:
    for _ in range(50):  # warm the pool
        await send()
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            await send()

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / total * 1e6


async def run_httpx(module_name: str, url: str, total: int, concurrency: int) -> float:
    module = __import__(module_name)
    limits = module.Limits(max_connections=100, max_keepalive_connections=100)
    async with module.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def send() -> object:
            response = await client.post("/chat/completions", json=PAYLOAD)
            return response.json()

        return await measure(send, total, concurrency)


async def run_httpx2_over_aiohttp(url: str, total: int, concurrency: int) -> float:
    """What ai-core's drivers use on asyncio: the httpx2 API over an aiohttp transport."""
    import httpx2

    from ai_core.drivers.http import AiohttpTransport

    async with httpx2.AsyncClient(base_url=url, transport=AiohttpTransport(), timeout=30) as client:

        async def send() -> object:
            response = await client.post("/chat/completions", json=PAYLOAD)
            return response.json()

        return await measure(send, total, concurrency)


async def run_aiohttp(url: str, total: int, concurrency: int) -> float:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(base_url=url + "/", connector=connector) as session:

        async def send() -> object:
            async with session.post("chat/completions", json=PAYLOAD) as response:
                return await response.json()

        return await measure(send, total, concurrency)


async def main(total: int) -> None:
    with running_server() as url:
        print(f"{'client':<12} {'concurrency':>11} {'CPU µs/request':>15} {'ratio to httpx2':>16}")
        for concurrency in (1, 50):
            results: dict[str, float] = {}
            results["httpx2"] = await run_httpx("httpx2", url, total, concurrency)
            results["httpx"] = await run_httpx("httpx", url, total, concurrency)
            results["aiohttp"] = await run_aiohttp(url, total, concurrency)
            results["httpx2+aio"] = await run_httpx2_over_aiohttp(url, total, concurrency)
            for name, value in results.items():
                print(f"{name:<12} {concurrency:>11} {value:>15.0f} {value / results['httpx2']:>15.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.requests))
