"""Many conversations writing at once: nothing lost, nothing doubled, totals exact."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import anyio
import pytest
from sqlalchemy import select

from ai_core.storage.conversation_tables import Conversation, StoredMessage

pytestmark = pytest.mark.anyio

CONVERSATIONS = 200
TURNS = 2


async def test_200_conversations_at_once_through_the_facade(database_url: str) -> None:
    from ai_core.app import AI

    replies: dict[str, list[str]] = defaultdict(list)

    async with AI(database_url=database_url, persistence=True) as ai:

        async def talk(index: int) -> None:
            conversation = ai.conversation("fake/echo", user=f"user-{index % 7}", tags=(f"t{index % 3}",))
            for turn in range(TURNS):
                reply = await conversation.user(f"message {index} turn {turn} " + "word " * (index % 13)).asend()
                replies[reply.conversation_id].append(reply.message_id)

        async with anyio.create_task_group() as group:
            for index in range(CONVERSATIONS):
                group.start_soon(talk, index)
        database = ai.services.database
        with database.read() as conn:
            conversations = conn.execute(select(Conversation.__table__)).mappings().all()
            messages = conn.execute(select(StoredMessage.__table__)).mappings().all()

    assert len(conversations) == CONVERSATIONS
    by_conversation: dict[str, list[dict]] = defaultdict(list)
    for row in messages:
        by_conversation[row["conversation_id"]].append(row)
    ids = [row["id"] for row in messages]
    assert len(ids) == len(set(ids)) == CONVERSATIONS * TURNS * 2
    for conversation in conversations:
        rows = by_conversation[conversation["id"]]
        assert sorted(r["position"] for r in rows) == list(range(1, TURNS * 2 + 1))
        assert conversation["message_count"] == len(rows)
        costs = [r["cost"] for r in rows if r["billable"]]
        assert len(costs) == TURNS and all(c is not None and c > 0 for c in costs)
        assert conversation["total_cost"] == sum(costs, Decimal(0))
        assert conversation["total_input_tokens"] == sum(r["input_tokens"] for r in rows)
        # Each reply the caller saw is stored exactly once, under its conversation.
        assert sorted(replies[conversation["id"]]) == sorted(r["id"] for r in rows if r["billable"])
