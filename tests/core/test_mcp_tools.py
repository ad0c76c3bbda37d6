"""`.mcp(name)`: a registered MCP server's tools are offered to the model and run."""

from __future__ import annotations

from typing import Any

import pytest

from ai_core import AI, FakeDriver, MCPServerSpec, ToolCalled, ToolResult, ToolSpec
from ai_core.errors import ConfigurationError
from ai_core.events.listener import Listener
from ai_core.hookspecs import hookimpl
from ai_core.plugins import PluginRegistry


class AdderServer:
    instances: list[AdderServer] = []

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.closed = False
        AdderServer.instances.append(self)

    async def list_tools(self) -> list[ToolSpec]:
        schema = {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        }
        return [ToolSpec(name="add", description="Add two integers.", parameters=schema)]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        self.calls.append(arguments)
        return ToolResult(content=str(arguments["a"] + arguments["b"]))

    async def aclose(self) -> None:
        self.closed = True


class AdderPlugin:
    @hookimpl
    def register_mcp_servers(self, register):  # type: ignore[no-untyped-def]
        register(MCPServerSpec(name="adder", factory=AdderServer, transport="in-process", description="adds"))


def make_ai(listeners: list[Listener] | None = None) -> AI:
    import ai_core.builtin
    import ai_core.drivers.fake_plugin

    registry = PluginRegistry(
        plugins=[("core", ai_core.builtin), ("fake", ai_core.drivers.fake_plugin), ("adder", AdderPlugin())]
    )
    return AI(persistence=False, registry=registry, listeners=listeners or [])


@pytest.mark.anyio
async def test_mcp_tools_are_called_and_results_sent_back() -> None:
    called: list[ToolCalled] = []
    ai = make_ai([Listener(ToolCalled, called.append)])
    chat = (
        ai.conversation("fake/echo")
        .mcp("adder")
        .tool_choice("adder__add")
        .option("fake_tool_arguments", {"a": 2, "b": 40})
    )
    reply = await chat.user("what is 2+40?").asend()
    server = AdderServer.instances[-1]
    await ai.aclose()
    assert reply.text == "adder__add returned: 42"
    assert server.calls == [{"a": 2, "b": 40}]
    assert server.closed
    assert called and called[0].tool == "adder__add" and called[0].server == "adder"


def test_unknown_mcp_server_is_a_configuration_error() -> None:
    ai = make_ai()
    with pytest.raises(ConfigurationError, match="adder"):
        ai.conversation("fake/echo").mcp("missing")
    ai.close()


def test_fake_driver_sees_mcp_tool_schema() -> None:
    fake = FakeDriver()
    ai = make_ai()
    ai.providers._fixed["fake"] = fake
    ai.conversation("fake/echo").mcp("adder").user("hi").send()
    ai.close()
    assert fake.calls[0].tools is not None and fake.calls[0].tools[0].name == "adder__add"
