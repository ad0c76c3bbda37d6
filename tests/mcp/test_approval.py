"""Approvers approve, deny or defer tool calls; a deferred call is decided later, also in another process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ai_core import (
    AI,
    AgentActionCompleted,
    Approval,
    FakeDriver,
    ToolApprover,
    ToolCallRequest,
    conversation_detail,
)
from ai_core.errors import ConfigurationError, ToolCallsPendingError
from ai_core.events.listener import Listener
from ai_core.hookspecs import hookimpl
from ai_core.plugins import PluginRegistry
from ai_core.types import ToolCallPart, ToolResultPart

pytestmark = pytest.mark.anyio


def results(messages: list[Any]) -> dict[str, ToolResultPart]:
    return {p.tool_call_id: p for m in messages for p in m.parts if isinstance(p, ToolResultPart)}


def two_calls() -> list[ToolCallPart]:
    return [
        ToolCallPart(id="safe", name="tools__work", arguments={"text": "read"}),
        ToolCallPart(id="risky", name="tools__work", arguments={"text": "rm -rf"}),
    ]


async def test_a_denial_is_told_to_the_model_and_the_other_call_runs(script_server: Any) -> None:
    seen: list[ToolCallRequest] = []

    def no_rm(request: ToolCallRequest) -> Approval | None:
        seen.append(request)
        return Approval.deny("rm is not allowed") if "rm" in request.arguments.get("text", "") else None

    completed: list[AgentActionCompleted] = []
    fake = FakeDriver.scripted([two_calls(), "ok"])
    async with AI(
        persistence=False,
        drivers={"fake": fake},
        mcp_servers={"tools": script_server("ok")},
        listeners=[Listener(AgentActionCompleted, completed.append)],
    ) as ai:
        conv = ai.conversation("fake/echo").mcp("tools").approver(no_rm)
        await conv.user("go").asend()
    got = results(conv.messages)
    assert got["safe"].content == "worked: read"
    assert got["risky"].is_error and got["risky"].content == "the call was denied: rm is not allowed"
    assert [(r.server, r.tool, r.name) for r in seen] == [("tools", "work", "tools__work")] * 2
    assert [e.outcome for e in completed] == ["ok", "denied"]


class DenyAllPlugin:
    @hookimpl
    def register_tool_approvers(self, register: Any) -> None:
        register(ToolApprover(name="deny-all", check=lambda request: "deny"))


async def test_a_plugin_approver_applies_to_every_conversation(script_server: Any) -> None:
    import ai_core.builtin
    import ai_core.drivers.fake_plugin

    registry = PluginRegistry(
        plugins=[("core", ai_core.builtin), ("fake", ai_core.drivers.fake_plugin), ("deny", DenyAllPlugin())]
    )
    fake = FakeDriver.scripted([two_calls()[:1], "ok"])
    async with AI(
        persistence=False, registry=registry, drivers={"fake": fake}, mcp_servers={"tools": script_server("ok")}
    ) as ai:
        conv = ai.conversation("fake/echo").mcp("tools").approver(lambda request: Approval.approve())
        await conv.user("go").asend()
    assert results(conv.messages)["safe"].content == "the call was denied"


async def test_an_approver_that_raises_denies() -> None:
    from ai_core.mcp.approval import decide

    def broken(request: ToolCallRequest) -> Approval:
        raise RuntimeError("policy service down")

    request = ToolCallRequest(conversation_id="c", call_id="1", name="t", tool="t", server=None)
    decision = await decide(request, [broken])
    assert decision.decision == "deny" and "policy service down" in decision.reason


CHILD = textwrap.dedent(
    """
    import json, sys
    from ai_core import AI, FakeDriver

    url, conversation_id, decision, server_args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    fake = FakeDriver.scripted(["answered after the decision"])
    with AI(database_url=url, drivers={"fake": fake}, mcp_servers={"tools": server_args}) as ai:
        conv = ai.conversation(id=conversation_id)
        reply = conv.approve("risky") if decision == "approve" else conv.deny("risky", "the user said no")
        print(json.dumps({"text": reply.text, "sent": [m.role for m in fake.calls[0].messages]}))
    """
)


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_a_deferred_call_waits_and_is_decided_in_another_process(
    database_url: str, script_server: Any, tmp_path: Path, decision: str
) -> None:
    """Sync API on purpose: the child process decides with it; both backends run the async
    deferral in test_with_several_deferred_calls_the_turn_continues_after_the_last_decision."""

    def defer_rm(request: ToolCallRequest) -> Approval | None:
        return Approval.defer("needs a human") if "rm" in request.arguments["text"] else None

    server = script_server("ok")
    fake = FakeDriver.scripted([two_calls()])
    with AI(database_url=database_url, drivers={"fake": fake}, mcp_servers={"tools": server}) as ai:
        conv = ai.conversation("fake/echo").mcp("tools").approver(defer_rm)
        reply = conv.user("clean up").send()
        assert [c.id for c in reply.tool_calls] == ["safe", "risky"]  # the turn ended on the deferred call
        pending = conv.pending_calls()
        assert [(p.call_id, p.server, p.tool, p.arguments, p.reason) for p in pending] == [
            ("risky", "tools", "work", {"text": "rm -rf"}, "needs a human")
        ]
        assert set(results(conv.messages)) == {"safe"}
        with pytest.raises(ToolCallsPendingError, match="risky"):
            conv.user("and now?").send()
        with pytest.raises(ConfigurationError, match="no tool call 'nope'"):
            conv.approve("nope")
        conversation_id = conv.id
    assert len(fake.calls) == 1

    script = tmp_path / "decide.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), database_url, conversation_id, decision, json.dumps(server)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["text"] == "answered after the decision"
    assert outcome["sent"] == ["user", "assistant", "tool", "tool"]  # every call answered before the model ran

    with AI(database_url=database_url) as ai:
        stored = ai.conversation(id=conversation_id)
        assert stored.pending_calls() == []
        assert ai.services.database is not None
        detail = conversation_detail(ai.services.database, conversation_id)
        assert detail is not None
        messages = [row["message"] for row in detail["messages"]]
        got = results(messages)
        if decision == "approve":
            assert got["risky"].content == "worked: rm -rf" and not got["risky"].is_error
        else:
            assert got["risky"].is_error and got["risky"].content == "the call was denied: the user said no"
        assert [m.role for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
        assert messages[-1].text == "answered after the decision"


async def test_with_several_deferred_calls_the_turn_continues_after_the_last_decision(script_server: Any) -> None:
    fake = FakeDriver.scripted([two_calls(), "continued"])
    async with AI(persistence=False, drivers={"fake": fake}, mcp_servers={"tools": script_server("ok")}) as ai:
        conv = ai.conversation("fake/echo").mcp("tools").approver(lambda request: "defer")
        await conv.user("go").asend()
        assert {p.call_id for p in await conv.apending_calls()} == {"safe", "risky"}
        assert await conv.adeny("risky") is None  # one still pending: no model call yet
        assert len(fake.calls) == 1
        reply = await conv.aapprove("safe")
    assert reply is not None and reply.text == "continued"
    got = results(conv.messages)
    assert got["safe"].content == "worked: read" and got["risky"].content == "the call was denied"
