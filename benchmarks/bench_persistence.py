"""Messages persisted per second, SQLite and PostgreSQL, with totals checked exact.

    .venv/bin/python benchmarks/bench_persistence.py [--conversations 200] [--turns 10]
        [--backend sqlite|postgresql|all]

Two measurements per database:

* ``store``: the conversation store alone, as the pipeline calls it (user turn
  saved before the call, response with usage and cost after, each its own
  transaction), ``--conversations`` conversations writing concurrently.
* ``facade``: the same through ``AI(...).conversation(...).asend()`` with the
  built-in fake provider, i.e. including pricing, middleware and events.

Afterwards every conversation's stored ``message_count`` and ``total_cost``
are compared with its message rows; the run fails if any differs. PostgreSQL
is started from the image's binaries like the test suite does (as the
``postgres`` user when run as root); ``AI_TEST_POSTGRES_URL`` uses a server
you already have.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _verify(database: Any) -> int:
    from sqlalchemy import select

    from ai_core.storage.conversation_tables import Conversation, StoredMessage

    with database.read() as conn:
        conversations = conn.execute(select(Conversation.__table__)).mappings().all()
        messages = conn.execute(select(StoredMessage.__table__.c.conversation_id, StoredMessage.__table__.c.cost)).all()
    count: dict[str, int] = defaultdict(int)
    money: dict[str, Decimal] = defaultdict(Decimal)
    for conversation_id, cost in messages:
        count[conversation_id] += 1
        money[conversation_id] += cost or Decimal(0)
    for row in conversations:
        if row["message_count"] != count[row["id"]] or row["total_cost"] != money[row["id"]]:
            raise SystemExit(f"totals differ for conversation {row['id']}")
    return len(messages)


async def _store_run(url: str, conversations: int, turns: int) -> tuple[int, float]:
    from ai_core.pipeline.store import ConversationRecord, TurnContext, new_id
    from ai_core.storage.database import Database
    from ai_core.types import ChatResponse, Cost, Message, TokenUsage

    database = Database.open(url, migrate=True)
    store = database.conversation_store(owns_database=False)

    async def talk(index: int) -> None:
        record = ConversationRecord(id=new_id(), user=f"user-{index % 10}")
        for turn_number in range(turns):
            turn = TurnContext(
                conversation=record,
                new_messages=[Message.user(f"question {turn_number}")],
                provider="fake",
                model="echo",
                user=record.user,
            )
            await store.save_user_turn(turn)
            response = ChatResponse(
                provider="fake",
                model="echo",
                message=Message.assistant(f"answer {turn_number}"),
                usage=TokenUsage(input_tokens=12, output_tokens=7),
                cost=Cost(total=Decimal("0.0000165") + Decimal(index) / Decimal(10**12)),
                latency_ms=1.0,
            )
            await store.record_call(turn, response)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(conversations):
            group.start_soon(talk, index)
    elapsed = time.perf_counter() - started
    stored = _verify(database)
    database.close()
    return stored, elapsed


async def _facade_run(url: str, conversations: int, turns: int) -> tuple[int, float]:
    from ai_core.app import AI

    async with AI(database_url=url, persistence=True) as ai:

        async def talk(index: int) -> None:
            conversation = ai.conversation("fake/echo", user=f"user-{index % 10}")
            for turn_number in range(turns):
                await conversation.user(f"question {turn_number} from {index}").asend()

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for index in range(conversations):
                group.start_soon(talk, index)
        elapsed = time.perf_counter() - started
        stored = _verify(ai.services.database)
    return stored, elapsed


def _report(label: str, stored: int, elapsed: float) -> None:
    print(f"{label:<22} {stored:>7} messages in {elapsed:6.2f} s = {stored / elapsed:8.0f} msg/s (totals exact)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    args = parser.parse_args()

    if args.backend in ("sqlite", "all"):
        folder = Path(tempfile.mkdtemp(prefix="ai-core-bench-"))
        try:
            for kind, run in (("store", _store_run), ("facade", _facade_run)):
                url = f"sqlite:///{folder / f'{kind}.db'}"
                _report(f"sqlite {kind}", *anyio.run(run, url, args.conversations, args.turns))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    if args.backend in ("postgresql", "all"):
        import os

        from support.postgres import start_postgres

        external = os.environ.get("AI_TEST_POSTGRES_URL")
        server, stop = (None, None) if external else start_postgres()
        try:
            for kind, run in (("store", _store_run), ("facade", _facade_run)):
                if external:
                    url = external
                else:
                    assert server is not None
                    url = server.url(server.create_database())
                    from ai_core.storage.database import Database

                    Database.open(url, migrate=True).close()
                _report(f"postgresql {kind}", *anyio.run(run, url, args.conversations, args.turns))
        finally:
            if stop is not None:
                stop()  # type: ignore[operator]


if __name__ == "__main__":
    main()
