"""A connection asks its server for the tool list once, and again only after the server
says the list changed or the connection was replaced."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer

from ai_core import AI, FakeDriver, ToolCallPart
from ai_core.errors import MCPProtocolError

pytestmark = pytest.mark.anyio

TEE = Path(__file__).parent / "wire_tee.py"


class CountingServer(MCPServer):
    """An SDK server that counts the tools/list requests it answers."""

    lists = 0

    async def list_tools(self) -> list[Any]:
        self.lists += 1
        return await super().list_tools()


def growing_server(**options: Any) -> CountingServer:
    server = CountingServer("grow", **options)

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Adds a tool, and says so when the server can."""

        @server.tool()
        def extra() -> str:
            """Added at run time."""
            return "extra"

        if options.get("subscriptions") is not False:
            await ctx.notify_tools_changed()
        return "grown"

    return server


def offered(fake: FakeDriver, call: int) -> list[str]:
    return sorted(t.name for t in fake.calls[call].tools or [])


def wire_lists(log: Path) -> int:
    sent = [json.loads(line[2:]) for line in log.read_text("utf-8").splitlines() if line.startswith("c ")]
    return sum(1 for message in sent if message.get("method") == "tools/list")


async def test_an_sdk_server_is_listed_once_and_again_after_it_says_its_tools_changed() -> None:
    server = growing_server()
    grow = [ToolCallPart(id="g", name="grow__grow", arguments={})]
    fake = FakeDriver.scripted(["one", "two", grow, "grown", "four"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"grow": server}) as ai:
        conv = ai.conversation("fake/echo").mcp("grow")
        await conv.user("1").asend()
        await conv.user("2").asend()
        assert server.lists == 1  # the second send used the cached list
        await conv.user("grow").asend()  # the tool adds a tool and publishes tools/list_changed
        assert (await conv.user("4").asend()).text == "four"
    assert offered(fake, 0) == offered(fake, 1) == offered(fake, 2) == ["grow__grow"]
    assert offered(fake, 4) == ["grow__extra", "grow__grow"]  # the send after the change saw the new tool
    assert server.lists == 2


async def test_a_server_that_cannot_announce_changes_is_listed_once_for_the_connection() -> None:
    server = growing_server(subscriptions=False)  # declares tools.listChanged: false
    grow = [ToolCallPart(id="g", name="grow__grow", arguments={})]
    fake = FakeDriver.scripted([grow, "grown", "two"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"grow": server}) as ai:
        conv = ai.conversation("fake/echo").mcp("grow")
        await conv.user("grow").asend()
        await conv.user("2").asend()
    assert offered(fake, 2) == ["grow__grow"]  # it promised no changes: the list is kept
    assert server.lists == 1


async def test_the_npm_reference_server_answers_tools_list_once_across_sends(
    everything_command: dict[str, Any], tmp_path: Path
) -> None:
    log = tmp_path / "wire.log"
    command = [str(TEE), str(log), str(everything_command["command"]), *everything_command["args"]]  # type: ignore[misc]
    fake = FakeDriver.scripted(
        ["one", [ToolCallPart(id="a", name="everything__get-sum", arguments={"a": 1, "b": 2})], "three", "four"]
    )
    servers = {"everything": {"command": sys.executable, "args": command}}
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers=servers) as ai:
        conv = ai.conversation("fake/echo").mcp("everything", tools=["get-sum"])
        for text in ("1", "2", "4"):
            await conv.user(text).asend()
    assert [m.role for m in conv.messages].count("tool") == 1
    # The server announces tools/list_changed once after its handshake (it registers more tools then), so
    # it may be listed twice while connecting; never again without a notice, and not by the later sends.
    wire = [(line[0], json.loads(line[2:]) if line[2:] else {}) for line in log.read_text("utf-8").splitlines()]
    events = [
        "list" if who == "c" and m.get("method") == "tools/list" else "changed"
        for who, m in wire
        if m.get("method") in ("tools/list", "notifications/tools/list_changed")
    ]
    # (On a busy machine the notice may arrive before the first list, and the list it asks
    # for then follows that one.) At most one list per notice, plus the first.
    assert "list" in events
    assert events.count("list") <= events.count("changed") + 1
    calls = [i for i, (who, m) in enumerate(wire) if who == "c" and m.get("method") == "tools/call"]
    assert not any(m.get("method") == "tools/list" for _, m in wire[calls[0] :])


async def test_a_replaced_connection_lists_its_tools_again(script_server: Any, tmp_path: Path) -> None:
    log = tmp_path / "wire.log"
    bad = script_server("garbage")  # a garbled answer: the connection is replaced
    servers = {"bad": {**bad, "args": [str(TEE), str(log), sys.executable, *bad["args"]]}}
    async with AI(persistence=False, mcp_servers=servers) as ai:
        server = await ai._mcp.get("bad")
        assert [t.tool for t in await server.list_tools()] == [t.tool for t in await server.list_tools()]
        assert wire_lists(log) == 1
        with pytest.raises(MCPProtocolError):
            await server.call_tool("work", {"text": "x"})
        replacement = await ai._mcp.get("bad")
        assert replacement is not server
        await replacement.list_tools()
        await replacement.list_tools()
    assert wire_lists(log) == 2  # one per connection
