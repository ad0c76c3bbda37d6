"""The npm reference server ``mcp-server-everything`` over stdio: tools, prompts, resources, errors."""

from __future__ import annotations

from typing import Any

import pytest

from ai_core import AI, FakeDriver
from ai_core.errors import MCPError
from ai_core.types import ToolCallPart, ToolResultPart

pytestmark = pytest.mark.anyio


async def test_tools_are_listed_namespaced_and_called(everything_command: dict[str, Any]) -> None:
    fake = FakeDriver.scripted(
        [
            [
                ToolCallPart(id="a", name="everything__get-sum", arguments={"a": 2, "b": 40}),
                ToolCallPart(id="b", name="everything__get-sum", arguments={"a": "x"}),
                ToolCallPart(id="c", name="everything__echo", arguments={"message": "hi"}),
            ],
            "done",
        ]
    )
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"everything": everything_command}) as ai:
        conv = ai.conversation("fake/echo").mcp("everything", tools=["get-sum", "echo"])
        assert (await conv.user("add").asend()).text == "done"
    offered = {t.name: t for t in fake.calls[0].tools or []}
    assert sorted(offered) == ["everything__echo", "everything__get-sum"]
    assert set(offered["everything__get-sum"].parameters["properties"]) == {"a", "b"}
    got = {p.tool_call_id: p for m in conv.messages for p in m.parts if isinstance(p, ToolResultPart)}
    assert got["a"].content == "The sum of 2 and 40 is 42." and not got["a"].is_error
    # the server's own validation error reaches the model as a tool error
    assert got["b"].is_error and "Input validation error" in got["b"].content
    assert got["c"].content == "Echo: hi"


async def test_a_prompt_shapes_the_request(everything_command: dict[str, Any]) -> None:
    fake = FakeDriver.scripted(["ok"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"everything": everything_command}) as ai:
        conv = ai.conversation("fake/echo").mcp_prompt("everything", "args-prompt", {"city": "Paris"}).user("go")
        await conv.asend()
    sent = fake.calls[0].messages
    assert sent[0].role == "user" and "Paris" in sent[0].text
    assert sent[-1].text == "go"
    assert [m.role for m in conv.messages] == ["user", "user", "assistant"]  # what was sent is stored


async def test_a_resource_is_attached_as_a_user_message(everything_command: dict[str, Any]) -> None:
    fake = FakeDriver.scripted(["ok"])
    uri = "demo://resource/static/document/architecture.md"
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"everything": everything_command}) as ai:
        await ai.conversation("fake/echo").mcp_resource("everything", uri).user("summarise").asend()
    first = fake.calls[0].messages[0]
    assert first.text.startswith(f"Resource {uri}:\n") and len(first.text) > len(uri) + 20


async def test_an_unknown_prompt_or_resource_is_a_typed_error_before_any_model_call(
    everything_command: dict[str, Any],
) -> None:
    fake = FakeDriver.scripted(["never"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"everything": everything_command}) as ai:
        with pytest.raises(MCPError, match="everything") as caught:
            await ai.conversation("fake/echo").mcp_prompt("everything", "no-such-prompt").user("x").asend()
        assert caught.value.server == "everything"
        with pytest.raises(MCPError, match="everything"):
            await ai.conversation("fake/echo").mcp_resource("everything", "demo://nope/none").user("x").asend()
    assert fake.calls == []


def test_sync_use_and_one_process_per_instance(everything_command: dict[str, Any]) -> None:
    fake = FakeDriver.scripted(
        [[ToolCallPart(id="a", name="everything__echo", arguments={"message": "1"})], "one", "two"]
    )
    ai = AI(persistence=False, drivers={"fake": fake}, mcp_servers={"everything": everything_command})
    try:
        first = ai.conversation("fake/echo").mcp("everything")
        assert first.user("a").send().text == "one"
        assert ai.conversation("fake/echo").mcp("everything").user("b").send().text == "two"
        assert len(ai._mcp._live) == 1  # pooled: the second conversation reused the connection
    finally:
        ai.close()
    assert ai._mcp._live == {}
