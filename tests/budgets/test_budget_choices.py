"""The local server bills ``n`` choices as OpenAI does, and so does the budget."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, Usage

from ai_core.budgets import Budget, BudgetMiddleware
from ai_core.types import StreamCompleted

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_each_choice_is_billed_and_was_reserved(openai_server: OpenAICompatServer, stream: bool) -> None:
    from ai_core.app import AI

    openai_server.default = Completion(text="same", usage=Usage(prompt_tokens=9, completion_tokens=100))
    budget = Budget(limit=Decimal(1))
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    async with AI(persistence=False, budgets=[budget], providers={"openai": provider}) as ai:
        conversation = ai.conversation("openai/gpt-4o-mini").option("n", 3).max_tokens(100).user("hi")
        if stream:
            (reply,) = [e.response async for e in conversation.astream() if isinstance(e, StreamCompleted)]
            chunks = [payload for kind, payload in openai_server.sent if kind == "chunk" and payload["choices"]]
            assert {choice["index"] for chunk in chunks for choice in chunk["choices"]} == {0, 1, 2}
        else:
            reply = await conversation.asend()
            (body,) = [payload for kind, payload in openai_server.sent if kind == "response"]
            assert [choice["index"] for choice in body["choices"]] == [0, 1, 2]
        assert reply.text == "same" and reply.usage.output_tokens == 300  # three choices billed
        ledger = BudgetMiddleware.ledger_for(ai.services)
        spent, _ = ledger.usage(budget.key("*"), budget.period_start(datetime.now(UTC)))
        assert spent == reply.cost.total == (9 * Decimal("0.15") + 300 * Decimal("0.60")) / 1_000_000
