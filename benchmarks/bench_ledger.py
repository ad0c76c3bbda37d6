"""CPU a call's ledger write adds: the same calls with persistence off and on, side by side.

    .venv/bin/python benchmarks/bench_ledger.py [--rounds 10] [--block 200] [--concurrency 1 50]

Both ``AI`` instances live in one process and take turns, block by block, so
the machine's load changes both alike; each figure is the least CPU time per
call over the rounds (the least disturbed block; a block is long enough to
include its share of WAL checkpoints, which run in their own thread). The provider is the built-in
fake, so what differs between the two is the ledger: staging the user's turn,
the write itself, its events and listeners. Every call is a new conversation
(a conversation that grows would also measure its history). To compare two
commits, run the script with ``PYTHONPATH=<worktree>/core`` for each, in turn.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio

from ai_core import AI


async def _block(ai: AI, calls: int, concurrency: int) -> float:
    """CPU milliseconds per call of ``calls`` sends spread over ``concurrency`` tasks."""
    per_task = max(1, calls // concurrency)

    async def task() -> None:
        for _ in range(per_task):
            await ai.conversation("fake/echo").user("hello there").asend()

    started = time.process_time()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(task)
    return (time.process_time() - started) / (per_task * concurrency) * 1e3


async def _measure(concurrency: int, rounds: int, block: int, folder: Path) -> dict[str, float]:
    instances = {
        "persistence off": AI(persistence=False),
        "SQLite": AI(database_url=f"sqlite:///{folder / f'ledger-{concurrency}.db'}"),
    }
    best = dict.fromkeys(instances, float("inf"))
    try:
        for ai in instances.values():  # warm up: imports, connections, the first conversation
            await _block(ai, block, concurrency)
        for _ in range(rounds):
            for name, ai in instances.items():
                best[name] = min(best[name], await _block(ai, block, concurrency))
    finally:
        for ai in instances.values():
            await ai.aclose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    # A block spans several WAL checkpoints (one per 256 commits): the least block still pays them.
    parser.add_argument("--block", type=int, default=1024, help="calls per block")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ai-core-ledger-") as folder:
        for concurrency in args.concurrency:
            best = anyio.run(_measure, concurrency, args.rounds, args.block, Path(folder))
            off, stored = best["persistence off"], best["SQLite"]
            print(
                f"{concurrency:>3} concurrent: persistence off {off:.3f} ms, SQLite {stored:.3f} ms"
                f" per call: the ledger adds {stored - off:.3f} ms of CPU"
            )


if __name__ == "__main__":
    main()
