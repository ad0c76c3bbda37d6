"""``ai batch`` of 10,000 items against the local server, next to a plain asyncio loop.

    .venv/bin/python benchmarks/bench_batch.py                 # 10,000 items at 50 concurrent
    .venv/bin/python benchmarks/bench_batch.py --items 2000    # quicker

Both send the same Chat Completions requests to the same local server
(tests/servers/openai_compat.py in its own process) at the same concurrency:

- ``plain loop``: asyncio, one pooled ``httpx2.AsyncClient`` (httpx's maintained
  continuation, the HTTP client ai-core's drivers use), a semaphore, POST and
  ``.json()``, results kept in memory: the floor;
- ``ai batch``: the real command in its own process (its start-up included),
  with the progress bar drawn (``--progress``, stderr to /dev/null): every
  item through the whole pipeline, priced, recorded in SQLite (the default
  store), each result line written and flushed as it finishes;
- ``ai batch --no-persist``: the same without storage, to show what the
  ledger costs per item.

Reported: wall seconds, items per second and the client's CPU per item (the
plain loop's own process time; ``ai batch``'s whole process, start-up and
migrations of its fresh data directory included), each with its ratio to the
plain loop. On a busy machine the wall figures follow the load; CPU is steadier.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _local_server import running_server

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"
KEY = "sk-bench-0000000000000000"


def write_items(path: Path, count: int) -> None:
    with path.open("w") as handle:
        for i in range(count):
            handle.write(json.dumps({"id": f"item-{i}", "model": f"openai/{MODEL}", "prompt": f"Question {i}?"}) + "\n")


async def plain_loop(url: str, count: int, concurrency: int) -> tuple[float, float]:
    import httpx2

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx2.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        gate = asyncio.Semaphore(concurrency)
        results: list[object] = [None] * count

        async def one(i: int) -> None:
            async with gate:
                body = {"model": MODEL, "messages": [{"role": "user", "content": f"Question {i}?"}]}
                response = await client.post("/chat/completions", json=body)
                results[i] = response.json()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started, time.process_time() - cpu


def ai_batch(url: str, source: Path, concurrency: int, *extra: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AI_")}
        env.update(
            {
                "AI_DATA_DIR": data,
                "AI_CONFIG_FILE": str(Path(data) / "absent.toml"),
                "AI_OPENAI_BASE_URL": url,
                "AI_OPENAI_API_KEY": KEY,
            }
        )
        out = Path(data) / "out.jsonl"
        command = [sys.executable, "-c", "from ai_core.cli import main; main()", "batch", str(source), "-o", str(out),
                   "-c", str(concurrency), "--progress", *extra]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if done.returncode != 0:
            raise SystemExit(f"ai batch failed with status {done.returncode}")
        lines = out.read_text().splitlines()
        failed = sum(1 for line in lines if json.loads(line)["error"])
        if failed:
            raise SystemExit(f"ai batch: {failed} item(s) failed")
        return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, float]]] = []
    with tempfile.TemporaryDirectory() as work, running_server() as url:
        source = Path(work) / "in.jsonl"
        write_items(source, args.items)
        asyncio.run(plain_loop(url, min(500, args.items), args.concurrency))  # warm the server up
        rows.append(("plain loop (asyncio + httpx2)", asyncio.run(plain_loop(url, args.items, args.concurrency))))
        rows.append(("ai batch (SQLite ledger)", ai_batch(url, source, args.concurrency)))
        rows.append(("ai batch --no-persist", ai_batch(url, source, args.concurrency, "--no-persist")))
    floor, floor_cpu = rows[0][1]
    print(f"{args.items} items at {args.concurrency} concurrent, local server in its own process")
    print(f"{'':32} {'seconds':>8} {'items/s':>9} {'x plain':>8} {'CPU ms/item':>12} {'x plain':>8}")
    for name, (seconds, cpu) in rows:
        per_item = cpu * 1000 / args.items
        print(
            f"{name:32} {seconds:8.2f} {args.items / seconds:9.0f} {seconds / floor:8.2f} "
            f"{per_item:12.2f} {cpu / floor_cpu:8.2f}"
        )


if __name__ == "__main__":
    main()
