"""The whole loop through the OpenAI driver (local wire server): MCP tools offered by name,
called over several rounds, and every step stored with its cost (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, RecordedRequest, ToolCall, Usage

from ai_core import AI, MCPServerSpec, conversation_detail

pytestmark = pytest.mark.anyio


def notes_server() -> MCPServer:
    """Keeps nothing itself: what it knows of the conversation comes in ``_meta``."""
    server: MCPServer = MCPServer("notes")

    @server.tool()
    def note(text: str, ctx: Context) -> str:
        """Write a note; answers with the notes so far."""
        meta = (ctx.request_context.meta or {}).get("ai_core", {})
        earlier = [call["arguments"]["text"] for call in meta.get("earlier_calls", []) if call["name"] == "note"]
        return json.dumps({"notes": [*earlier, text]})

    return server


async def test_openai_driver_runs_the_mcp_loop_and_the_ledger_holds_every_step(
    openai_server: OpenAICompatServer, database_url: str, script_server: Any
) -> None:
    def answer(request: RecordedRequest) -> Completion:
        messages = request.json["messages"]
        tool_turns = sum(1 for m in messages if m["role"] == "assistant" and m.get("tool_calls"))
        usage = Usage(prompt_tokens=100 * (tool_turns + 1), completion_tokens=10)
        if tool_turns == 0:
            calls = [
                ToolCall("notes__note", {"text": "first"}, id="call_1"),
                ToolCall("tools__work", {"text": "w"}, id="call_2"),
            ]
            return Completion(text="", tool_calls=calls, usage=usage)
        if tool_turns == 1:
            second = ToolCall("notes__note", {"text": "second"}, id="call_3")
            return Completion(text="", tool_calls=[second], usage=usage)
        return Completion(text=f"final: {messages[-1]['content']}", usage=usage)

    openai_server.handler = answer
    provider = {"api_key": TEST_API_KEY, "base_url": openai_server.base_url, "retry_attempts": 0}
    servers = {
        "notes": MCPServerSpec(name="notes", factory=notes_server, conversation_state=True),
        "tools": script_server("ok"),
    }
    async with AI(database_url=database_url, providers={"openai": provider}, mcp_servers=servers) as ai:
        conv = ai.conversation("openai/gpt-4o-mini").mcp("notes").mcp("tools")
        reply = await conv.user("take notes").asend()
        assert ai.services.database is not None
        detail = conversation_detail(ai.services.database, conv.id)

    assert reply.text == 'final: {"notes": ["first", "second"]}'
    bodies = openai_server.chat_bodies
    assert len(bodies) == 3
    assert sorted(t["function"]["name"] for t in bodies[0]["tools"]) == ["notes__note", "tools__pid", "tools__work"]
    tool_messages = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [
        ("call_1", '{"notes": ["first"]}'),
        ("call_2", "worked: w"),
    ]

    assert detail is not None
    rows = detail["messages"]
    assert [r["role"] for r in rows] == ["user", "assistant", "tool", "tool", "assistant", "tool", "assistant"]
    answers = [r for r in rows if r["role"] == "assistant"]
    assert all(r["cost"] is not None and r["cost"] > 0 for r in answers)  # each model call is its own ledger row
    assert sum((r["cost"] for r in answers), Decimal(0)) == reply.cost.total
    assert [r["input_tokens"] for r in answers] == [100, 200, 300]
