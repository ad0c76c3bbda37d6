"""``ai.conversation(...).mcp("sequential-thinking")``: the plugin's server in ai-core's tool loop.

The fake model thinks in several calls (a revision, a branch, a number past the estimate, a bad
call it must recover from), then answers. The stored conversation holds every step and what each
model call cost, on SQLite and PostgreSQL; resumed by a new ``AI`` (a fresh server, as in another
process), the thought history goes on from what was stored. The OpenAI driver, against its local
wire server, runs the same loop.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

import ai_mcp_sequential.plugin as sequential_plugin
from ai_core import AI, FakeDriver, builtin
from ai_core.drivers import fake_plugin
from ai_core.plugins import PluginRegistry
from ai_core.storage.conversation_tables import Conversation, StoredMessage
from ai_core.types import ToolCallPart, ToolResultPart

pytestmark = pytest.mark.anyio

TOOL = "sequential-thinking__sequentialthinking"  # the name the model sees


def think(call_id: str, number: Any, total: Any, more: Any = True, **extra: Any) -> ToolCallPart:
    arguments = {"thought": f"thought {number}", "nextThoughtNeeded": more, "thoughtNumber": number,
                 "totalThoughts": total, **extra}  # fmt: skip
    return ToolCallPart(id=call_id, name=TOOL, arguments=arguments)


def registry() -> PluginRegistry:
    return PluginRegistry(
        plugins=[("core", builtin), ("fake", fake_plugin), ("sequential-thinking", sequential_plugin)]
    )


def tool_results(conversation: Any) -> dict[str, ToolResultPart]:
    return {p.tool_call_id: p for m in conversation.messages for p in m.parts if isinstance(p, ToolResultPart)}


def stored(ai: AI, conversation_id: str) -> tuple[list[Any], Any]:
    """The conversation's stored messages, in order, and its row (with its totals)."""
    table, conversations = StoredMessage.__table__, Conversation.__table__
    with ai.services.database.read() as conn:
        query = select(table).where(table.c.conversation_id == conversation_id).order_by(table.c.position)
        row = conn.execute(select(conversations).where(conversations.c.id == conversation_id)).one()
        return list(conn.execute(query)), row


async def test_the_model_thinks_revises_branches_and_answers(database_url: str) -> None:
    script = [
        [think("t1", 1, 3)],
        [think("t2", 2, 3)],
        [think("t3", 3, 3, isRevision=True, revisesThought=1)],
        [think("t4", 3, 4, branchFromThought=2, branchId="alt"), think("t5", "5", "4", "TRUE")],
        [think("bad", 0, 4)],  # refused: the model is told, nothing is recorded
        [think("t6", 6, 6, False, branchFromThought=2, branchId="1")],
        "The answer is 42.",
    ]
    fake = FakeDriver.scripted(script)
    async with AI(database_url=database_url, registry=registry(), drivers={"fake": fake}) as ai:
        conversation = ai.conversation("fake/echo").mcp("sequential-thinking")
        reply = await conversation.user("Think it through.").asend()
        rows, totals = stored(ai, conversation.id)
    assert reply.text == "The answer is 42."
    offered = [t.name for t in fake.calls[0].tools or []]
    assert offered == [TOOL]

    results = tool_results(conversation)
    answers = {call_id: json.loads(results[call_id].content) for call_id in ("t1", "t2", "t3", "t4", "t5", "t6")}
    assert [a["thoughtHistoryLength"] for a in answers.values()] == [1, 2, 3, 4, 5, 6]
    assert answers["t5"] == {"thoughtNumber": 5, "totalThoughts": 5, "nextThoughtNeeded": True,
                             "branches": ["alt"], "thoughtHistoryLength": 5}  # fmt: skip
    assert answers["t6"]["branches"] == ["1", "alt"] and answers["t6"]["nextThoughtNeeded"] is False
    assert results["bad"].is_error
    assert "Too small: expected number to be >=1 at thoughtNumber" in results["bad"].content

    # Every step is stored: the user turn, each model call with its tool calls, each result, the answer.
    roles = [r.role for r in rows]
    turns = [["assistant", "tool"]] * 3 + [["assistant", "tool", "tool"]] + [["assistant", "tool"]] * 2
    assert roles == ["user", *(role for turn in turns for role in turn), "assistant"]
    stored_calls = [p for r in rows if r.role == "assistant" for p in r.parts if p.get("type") == "tool_call"]
    assert [p["id"] for p in stored_calls] == ["t1", "t2", "t3", "t4", "t5", "bad", "t6"]
    stored_results = [p for r in rows if r.role == "tool" for p in r.parts]
    assert [p["tool_call_id"] for p in stored_results] == ["t1", "t2", "t3", "t4", "t5", "bad", "t6"]
    assert json.loads(stored_results[-1]["content"]) == answers["t6"]
    assert [p["is_error"] for p in stored_results] == [False] * 5 + [True, False]
    # ... and each model call is charged: seven calls, each with its cost.
    billable = [r for r in rows if r.billable]
    assert len(billable) == 7 == len(fake.calls)
    assert all(r.cost is not None and r.cost > 0 for r in billable), [
        (r.cost, r.input_tokens, r.output_tokens) for r in billable
    ]
    assert totals.total_cost == sum((r.cost for r in billable), Decimal(0)) > 0


async def test_a_resumed_conversation_continues_the_thought_history(database_url: str) -> None:
    """A new ``AI`` has a new server with nothing in memory: the history comes from the stored calls."""
    first = FakeDriver.scripted([[think("a", 1, 3)], [think("b", 2, 3, branchFromThought=1, branchId="x")], "pause"])
    async with AI(database_url=database_url, registry=registry(), drivers={"fake": first}) as ai:
        conversation = ai.conversation("fake/echo").mcp("sequential-thinking")
        await conversation.user("Start.").asend()
    second = FakeDriver.scripted([[think("n", 1, 1, False)], "fresh", [think("c", 3, 3, False)], "done"])
    async with AI(database_url=database_url, registry=registry(), drivers={"fake": second}) as ai:
        fresh = ai.conversation("fake/echo").mcp("sequential-thinking")
        assert (await fresh.user("Another problem.").asend()).text == "fresh"
        resumed = ai.conversation(id=conversation.id).mcp("sequential-thinking")
        assert (await resumed.user("Go on.").asend()).text == "done"
    assert json.loads(tool_results(fresh)["n"].content)["thoughtHistoryLength"] == 1
    answer = json.loads(tool_results(resumed)["c"].content)
    assert answer == {"thoughtNumber": 3, "totalThoughts": 3, "nextThoughtNeeded": False,
                      "branches": ["x"], "thoughtHistoryLength": 3}  # fmt: skip


async def test_the_openai_driver_against_its_wire_server(openai_server: Any, database_url: str) -> None:
    """The same loop through the OpenAI driver and its local wire server: what the model is sent."""
    from servers.fixtures import TEST_API_KEY
    from servers.openai_compat import Completion, ToolCall, Usage

    import ai_openai.plugin as openai_plugin

    def call(call_id: str, number: int, total: int, more: bool = True, **extra: Any) -> Completion:
        arguments = {"thought": f"thought {number}", "nextThoughtNeeded": more, "thoughtNumber": number,
                     "totalThoughts": total, **extra}  # fmt: skip
        return Completion(text="", tool_calls=[ToolCall(TOOL, arguments, id=call_id)], usage=Usage(prompt_tokens=200))

    openai_server.reply(
        call("c1", 1, 2),
        call("c2", 2, 2, isRevision=True, revisesThought=1),
        call("c3", 3, 2, False, branchFromThought=1, branchId="b"),
        Completion(text="Settled.", usage=Usage(prompt_tokens=300, completion_tokens=5)),
    )
    plugins = PluginRegistry(
        plugins=[("core", builtin), ("openai", openai_plugin), ("sequential-thinking", sequential_plugin)]
    )
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    async with AI(database_url=database_url, registry=plugins, providers={"openai": provider}) as ai:
        conversation = ai.conversation("openai/gpt-4o-mini").mcp("sequential-thinking")
        reply = await conversation.user("Decide.").asend()
        rows, totals = stored(ai, conversation.id)
    assert reply.text == "Settled."
    requests = [r.json for r in openai_server.requests]
    [tool] = requests[0]["tools"]
    assert tool["function"]["name"] == TOOL
    assert tool["function"]["parameters"]["required"] == ["thought", "nextThoughtNeeded", "thoughtNumber",
                                                          "totalThoughts"]  # fmt: skip
    # The model was handed each result as the tool message of the next request.
    last_tool_message = requests[-1]["messages"][-1]
    assert last_tool_message["role"] == "tool" and last_tool_message["tool_call_id"] == "c3"
    assert json.loads(last_tool_message["content"]) == {"thoughtNumber": 3, "totalThoughts": 3,
        "nextThoughtNeeded": False, "branches": ["b"], "thoughtHistoryLength": 3}  # fmt: skip
    billable = [r for r in rows if r.billable]
    assert len(billable) == 4 and all(r.cost is not None and r.cost > 0 for r in billable)
    assert totals.total_cost == sum((r.cost for r in billable), Decimal(0))
