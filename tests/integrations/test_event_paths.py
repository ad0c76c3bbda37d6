"""A unary call, a stream, each tool-loop step and a batch item emit the same events with the same usage and cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ai_core import (
    ConversationCreated,
    CostCalculated,
    Event,
    MessageAdded,
    ResponseGenerated,
    ToolCallPart,
)
from ai_core.drivers.fake import FakeDriver
from tests.integrations.helpers import make_ai

_VARYING = {
    "id",
    "occurred_at",
    "conversation_id",
    "message_id",
    "message_ids",
    "latency_ms",
    "streamed",
    "duration_ms",
}


def _shape(event: Event) -> tuple[str, dict[str, Any]]:
    return event.name, event.model_dump(exclude=_VARYING)


def lookup(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _script() -> list[Any]:
    return [[ToolCallPart(id="c1", name="lookup", arguments={"city": "Oslo"})], "It is sunny in Oslo."]


async def _run(database_url: str, *, streamed: bool, tools: bool, batched: bool = False) -> list[Event]:
    fake = FakeDriver.scripted(_script() if tools else ["Hello there, how are you today?"])
    ai = make_ai(database_url, drivers={"fake": fake})
    seen: list[Event] = []
    ai.on(Event)(seen.append)
    try:
        if batched:  # a batch item goes through the same pipeline as a conversation's send
            item = {
                "id": "1",
                "model": "fake/echo",
                "prompt": "What is the weather in Oslo?",
                "user": "ann",
                "tenant": "acme",
            }
            (result,) = await ai.abatch([item])
            assert result.error is None, result.error
            assert await ai.events.adrain()
            return seen
        chat = ai.conversation("fake/echo", user="ann", tenant="acme")
        if tools:
            chat = chat.tools([lookup])
        chat = chat.user("What is the weather in Oslo?")
        if streamed:
            async for _ in chat.astream():
                pass
        else:
            await chat.asend()
        assert await ai.events.adrain()
    finally:
        await ai.aclose()
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize("tools", [False, True], ids=["plain", "tool-loop"])
async def test_unary_and_stream_emit_the_same_events(sqlite_db: str, tmp_path: Any, tools: bool) -> None:
    import shutil

    second = tmp_path / "second.db"
    shutil.copyfile(sqlite_db.removeprefix("sqlite:///"), second)
    unary = await _run(sqlite_db, streamed=False, tools=tools)
    stream = await _run(f"sqlite:///{second}", streamed=True, tools=tools)
    assert [_shape(e) for e in unary] == [_shape(e) for e in stream]
    names = [e.name for e in unary]
    assert names.count(ConversationCreated.name) == 1
    assert names.count(CostCalculated.name) == (2 if tools else 1)
    assert ("tool.called" in names) is tools


@pytest.mark.anyio
async def test_each_step_is_priced_once_and_the_response_adds_them_up(sqlite_db: str) -> None:
    events = await _run(sqlite_db, streamed=True, tools=True)
    priced = [e for e in events if isinstance(e, CostCalculated)]
    answers = [e for e in events if isinstance(e, MessageAdded) and e.role == "assistant"]
    (final,) = [e for e in events if isinstance(e, ResponseGenerated)]
    assert [(a.usage, a.cost) for a in answers] == [(p.usage, p.cost) for p in priced]
    assert all(p.cost is not None and p.cost > 0 for p in priced)
    assert final.cost is not None and final.cost.total == sum((p.cost for p in priced if p.cost), Decimal(0))
    assert final.usage.output_tokens == sum(p.usage.output_tokens for p in priced)
    roles = [e.role for e in events if isinstance(e, MessageAdded)]
    assert roles == ["user", "assistant", "tool", "assistant"]


@pytest.mark.anyio
async def test_a_batch_item_emits_what_a_unary_call_does(sqlite_db: str, tmp_path: Any) -> None:
    import shutil

    second = tmp_path / "second.db"
    shutil.copyfile(sqlite_db.removeprefix("sqlite:///"), second)
    unary = await _run(sqlite_db, streamed=False, tools=False)
    batched = await _run(f"sqlite:///{second}", streamed=False, tools=False, batched=True)
    assert [_shape(e) for e in batched] == [_shape(e) for e in unary]
