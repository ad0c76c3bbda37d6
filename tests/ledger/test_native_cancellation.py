"""asyncio's own cancellation never leaves the ledger or a hold half done.

``asyncio.wait_for``, ``asyncio.timeout``, ``asyncio.gather`` and ``task.cancel()``
throw ``CancelledError`` into the task natively, through any anyio shield. Calls
cancelled that way at every stage (admission, the provider's answer, the ledger
write, the settlement) must leave each answered call on the ledger once, charged
to its budget exactly what the ledger says, and no hold open. asyncio only: trio
has no cancellation but its scopes, which the shields already keep out.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, Usage
from sqlalchemy import select

from ai_core import AI
from ai_core.budgets import Budget
from ai_core.budgets.tables import BudgetReservation
from ai_core.storage.conversation_tables import StoredMessage

pytestmark = pytest.mark.anyio

CALLS = 160
WIDTH = 20


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_calls_cancelled_natively_at_any_point_leave_consistent_books(
    openai_server: OpenAICompatServer, database_url: str
) -> None:
    openai_server.reply(Completion(text="ok", usage=Usage(prompt_tokens=20, completion_tokens=5)))
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    budget = Budget(limit=Decimal(100), name="team")
    pick = random.Random(7)
    outcomes = {"answered": 0, "cancelled": 0}
    async with AI(database_url=database_url, budgets=[budget], providers={"openai": provider}) as ai:

        def send(index: int) -> Any:
            return ai.conversation("openai/gpt-4o-mini", user="ann").user(f"hi {index}").asend()

        async def timed(index: int) -> float:
            started = asyncio.get_running_loop().time()
            await send(index)
            return asyncio.get_running_loop().time() - started

        # How long a call takes here, now, twenty at a time (the concurrency below).
        await send(-1)  # imports, connections
        span = max(await asyncio.gather(*(timed(-1) for _ in range(WIDTH))))
        gate = asyncio.Semaphore(WIDTH)

        async def one(index: int, timeout: float) -> None:
            async with gate:
                try:
                    await asyncio.wait_for(send(index), timeout)
                    outcomes["answered"] += 1
                except TimeoutError:
                    outcomes["cancelled"] += 1

        # Timeouts spread over a call's whole life, so cancellation lands at every stage of some
        # call; a few that end at once and a few that never do, so both outcomes always occur.
        timeouts = [0.0] * 5 + [60.0] * 5 + [pick.uniform(0, 1.5 * span) for _ in range(CALLS - 10)]
        await asyncio.gather(*(one(i, timeout) for i, timeout in enumerate(timeouts)))
        database: Any = ai.services.database
    assert outcomes["answered"] > 0 and outcomes["cancelled"] > 0
    messages, holds = StoredMessage.__table__, BudgetReservation.__table__
    with database.read() as conn:
        recorded = [
            (r.call_id, r.cost)
            for r in conn.execute(select(messages.c.call_id, messages.c.cost))
            if r.call_id is not None
        ]
        closed = list(conn.execute(select(holds.c.call_id, holds.c.status, holds.c.actual)))
    assert len(recorded) == len(dict(recorded)) >= outcomes["answered"]  # every answer once (some the caller never saw)
    assert [status for _, status, _ in closed if status not in ("settled", "released")] == []
    assert {call: actual for call, status, actual in closed if status == "settled"} == dict(recorded)
