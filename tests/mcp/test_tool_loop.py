"""The tool loop with SDK servers connected in process, through the fake driver."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer

from ai_core import AI, AgentActionCompleted, AgentActionRequested, FakeDriver, MCPServerSpec, ToolCalled
from ai_core.errors import ConfigurationError, RequestValidationError
from ai_core.events.listener import Listener
from ai_core.types import ChatRequest, ToolCallPart, ToolResultPart

pytestmark = pytest.mark.anyio


def search_server(label: str, seen: list[dict[str, Any]] | None = None) -> MCPServer:
    server: MCPServer = MCPServer(label)

    @server.tool()
    async def search(query: str, ctx: Context) -> str:
        """Search."""
        if seen is not None:
            seen.append(dict(ctx.request_context.meta or {}))
        return f"{label}: {query}"

    @server.tool()
    def explode() -> str:
        """Raises."""
        raise RuntimeError("kaboom")

    return server


def calls(*parts: tuple[str, str, dict[str, Any]]) -> list[ToolCallPart]:
    return [ToolCallPart(id=i, name=n, arguments=a) for i, n, a in parts]


def results(conv: Any) -> dict[str, ToolResultPart]:
    return {p.tool_call_id: p for m in conv.messages for p in m.parts if isinstance(p, ToolResultPart)}


async def test_two_servers_with_the_same_tool_name_never_collide() -> None:
    fake = FakeDriver.scripted(
        [calls(("a", "docs__search", {"query": "x"}), ("b", "web__search", {"query": "y"})), "done"]
    )
    async with AI(
        persistence=False,
        drivers={"fake": fake},
        mcp_servers={"docs": search_server("docs"), "web": search_server("web")},
    ) as ai:
        conv = ai.conversation("fake/echo").mcp("docs").mcp("web")
        reply = await conv.user("find").asend()
    assert reply.text == "done"
    offered = sorted(t.name for t in fake.calls[0].tools or [])
    assert offered == ["docs__explode", "docs__search", "web__explode", "web__search"]
    got = results(conv)
    assert got["a"].content == "docs: x" and got["b"].content == "web: y"


async def test_an_exception_in_one_tool_is_an_error_result_and_the_other_calls_still_run() -> None:
    fake = FakeDriver.scripted(
        [calls(("a", "docs__explode", {}), ("b", "docs__search", {"query": "still"}), ("c", "nope", {})), "ok"]
    )
    completed: list[AgentActionCompleted] = []
    requested: list[AgentActionRequested] = []
    called: list[ToolCalled] = []
    listeners = [
        Listener(AgentActionCompleted, completed.append),
        Listener(AgentActionRequested, requested.append),
        Listener(ToolCalled, called.append),
    ]
    async with AI(
        persistence=False, drivers={"fake": fake}, mcp_servers={"docs": search_server("docs")}, listeners=listeners
    ) as ai:
        conv = ai.conversation("fake/echo").mcp("docs")
        assert (await conv.user("go").asend()).text == "ok"
    got = results(conv)
    assert got["a"].is_error and "explode" in got["a"].content
    assert not got["b"].is_error and got["b"].content == "docs: still"
    assert got["c"].is_error and "no tool named 'nope'" in got["c"].content
    # what the model saw next: every call answered
    sent = fake.calls[1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool", "tool", "tool"]
    assert [e.call_id for e in requested] == ["a", "b", "c"]
    assert [(e.call_id, e.outcome, e.server, e.server_tool) for e in completed] == [
        ("a", "error", "docs", "explode"),
        ("b", "ok", "docs", "search"),
        ("c", "unknown_tool", None, None),
    ]
    assert [(e.tool, e.server) for e in called] == [("docs__explode", "docs"), ("docs__search", "docs")]


async def test_a_tool_choice_no_server_has_is_refused_before_any_provider_call() -> None:
    fake = FakeDriver.scripted(["never"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"docs": search_server("docs")}) as ai:
        conv = ai.conversation("fake/echo").mcp("docs").tool_choice("search")
        with pytest.raises(RequestValidationError, match=r"'search'.*docs__search"):
            await conv.user("go").asend()
        with pytest.raises(ConfigurationError, match="no tool 'missing'"):
            await ai.conversation("fake/echo").mcp("docs", tools=["search", "missing"]).user("go").asend()
    assert fake.calls == []


async def test_allow_list_offers_only_the_allowed_tools() -> None:
    fake = FakeDriver.scripted([calls(("a", "docs__explode", {})), "ok"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"docs": search_server("docs")}) as ai:
        conv = ai.conversation("fake/echo").mcp("docs", tools=["search"])
        await conv.user("go").asend()
    assert [t.name for t in fake.calls[0].tools or []] == ["docs__search"]
    # the model called a tool the allow list left out: refused, not run
    assert results(conv)["a"].is_error and "no tool named 'docs__explode'" in results(conv)["a"].content


async def test_step_limit_ends_the_loop_with_every_call_answered() -> None:
    def always_search(request: ChatRequest) -> list[ToolCallPart]:
        return [ToolCallPart(id=f"c{len(request.messages)}", name="docs__search", arguments={"query": "again"})]

    from ai_core import Settings
    from ai_core.errors import ToolLoopError

    fake = FakeDriver.scripted([always_search] * 5)
    settings = Settings(persistence=False, tool_rounds=2)
    async with AI(settings=settings, drivers={"fake": fake}, mcp_servers={"docs": search_server("docs")}) as ai:
        conv = ai.conversation("fake/echo").mcp("docs")
        with pytest.raises(ToolLoopError):
            await conv.user("go").asend()
    assert len(fake.calls) == 3
    calls_made = [p.id for m in conv.messages for p in m.parts if isinstance(p, ToolCallPart)]
    assert set(calls_made) == set(results(conv))


async def test_only_servers_that_opt_in_get_the_conversation_meta() -> None:
    opted: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    fake = FakeDriver.scripted(
        [
            calls(("a", "state__search", {"query": "1"}), ("b", "plain__search", {"query": "1"})),
            calls(("c", "state__explode", {}), ("d", "state__search", {"query": "2"})),
            "done",
        ]
    )
    spec = MCPServerSpec(name="state", factory=lambda: search_server("state", opted), conversation_state=True)
    async with AI(
        persistence=False, drivers={"fake": fake}, mcp_servers={"state": spec, "plain": search_server("plain", plain)}
    ) as ai:
        conv = ai.conversation("fake/echo").mcp("state").mcp("plain")
        await conv.user("go").asend()
    assert all("ai_core" not in meta for meta in plain)
    metas = [meta["ai_core"] for meta in opted]
    assert metas[0] == {"conversation_id": conv.id, "earlier_calls": []}
    assert metas[1] == {
        "conversation_id": conv.id,
        "earlier_calls": [
            {"name": "search", "arguments": {"query": "1"}, "is_error": False},
            {"name": "explode", "arguments": {}, "is_error": True},
        ],
    }


async def test_unknown_server_names_the_known_ones() -> None:
    async with AI(persistence=False, mcp_servers={"docs": search_server("docs")}) as ai:
        with pytest.raises(ConfigurationError, match=r"unknown MCP server 'nope'.*docs"):
            ai.conversation("fake/echo").mcp("nope")


async def test_streaming_runs_the_same_loop() -> None:
    fake = FakeDriver.scripted([calls(("a", "docs__search", {"query": "s"})), "streamed"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"docs": search_server("docs")}) as ai:
        conv = ai.conversation("fake/echo").mcp("docs")
        events = [e async for e in conv.user("go").astream()]
    assert events[-1].response.text == "streamed"
    assert results(conv)["a"].content == "docs: s"
