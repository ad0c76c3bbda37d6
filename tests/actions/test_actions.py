"""Agent actions: requested by the model, stored, run in the background, completed once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from ai_core.actions import ActionManager, resume_actions
from ai_core.config import load_settings
from ai_core.events.types import AgentActionCompleted, AgentActionRequested
from ai_core.testing import fake_ai
from ai_core.types import ToolCallPart

CALL = [ToolCallPart(id="c1", name="send_followup_email", arguments={"to": "ada@example.com", "subject": "Hi"})]


FAKES: dict[int, Any] = {}


def make_ai(database_url: str | None, replies: list[Any]) -> Any:
    from ai_core.testing import make_fake

    config = load_settings(persistence=database_url is not None, database_url=database_url, default_model="fake/echo")
    fake = make_fake(replies)
    ai = fake_ai(fake, settings=config)
    FAKES[id(ai)] = fake
    return ai


def watch(ai: Any) -> list[Any]:
    seen: list[Any] = []
    ai.on(AgentActionRequested, AgentActionCompleted)(seen.append)
    return seen


@pytest.mark.anyio
async def test_a_requested_action_runs_in_the_background_and_its_outcome_joins_the_conversation(
    database_url: str,
) -> None:
    ai = make_ai(database_url, [CALL, "I queued the e-mail.", "Noted."])
    sent: list[tuple[str, str, str]] = []

    @ai.action("send_followup_email", description="Send a follow-up e-mail.")
    def send_followup_email(to: str, subject: str, action_id: str) -> str:
        sent.append((to, subject, action_id))
        return f"sent to {to}"

    async with ai:
        seen = watch(ai)
        chat = ai.conversation(user="ada").actions("send_followup_email")
        reply = await chat.user("follow up with Ada").asend()
        assert reply.text == "I queued the e-mail."
        tool_result = next(m for m in chat.messages if m.role == "tool").parts[0]
        assert "requested (id " in tool_result.content  # the model is told at once
        await ai.events.adrain()
        assert len(sent) == 1 and sent[0][:2] == ("ada@example.com", "Hi")
        action_id = sent[0][2]
        row = await ActionManager.of(ai).get(action_id)
        assert row is not None and (row.status, row.attempts, row.result) == ("succeeded", 1, "sent to ada@example.com")
        assert row.arguments == {"to": "ada@example.com", "subject": "Hi"} and row.user == "ada"
        mine = [e for e in seen if getattr(e, "action_id", None) == action_id]
        assert [type(e).__name__ for e in mine] == ["AgentActionRequested", "AgentActionCompleted"]
        assert mine[1].outcome == "succeeded" and not mine[1].is_error
        # The outcome travels with the next send, and is stored with it.
        await chat.user("thanks").asend()
        request = FAKES[id(ai)].calls[-1]
        texts = [m.text for m in request.messages]
        assert f"[action send_followup_email (id {action_id}) succeeded] sent to ada@example.com" in texts
        with ai.services.database.read() as conn:
            stored = conn.execute(text("SELECT status, attempts FROM ai_agent_actions")).all()
        assert [tuple(r) for r in stored] == [("succeeded", 1)]


@pytest.mark.anyio
async def test_a_failing_action_is_recorded_as_failed() -> None:
    ai = make_ai(None, [CALL, "queued"])

    @ai.action("send_followup_email")
    async def send_followup_email(to: str, subject: str) -> str:
        raise ConnectionError("SMTP server down")

    async with ai:
        seen = watch(ai)
        await ai.conversation().actions().user("go").asend()
        await ai.events.adrain()
        completed = [e for e in seen if isinstance(e, AgentActionCompleted) and e.action_id]
        assert len(completed) == 1 and completed[0].outcome == "failed" and completed[0].is_error
        row = await ActionManager.of(ai).get(completed[0].action_id or "")
        assert row is not None and row.status == "failed" and row.error == "ConnectionError: SMTP server down"


@pytest.mark.anyio
async def test_bad_arguments_are_told_to_the_model_and_nothing_is_stored() -> None:
    ai = make_ai(None, [[ToolCallPart(id="c1", name="send_followup_email", arguments={"subject": 3})], "sorry"])
    ai.action("send_followup_email")(lambda to, subject: "x")
    async with ai:
        chat = ai.conversation().actions()
        await chat.user("go").asend()
        result = next(m for m in chat.messages if m.role == "tool").parts[0]
        assert result.is_error and "invalid arguments" in result.content
        assert await ActionManager.of(ai).aresume() == 0


@pytest.mark.anyio
async def test_two_workers_complete_an_action_once(database_url: str) -> None:
    ai = make_ai(database_url, [CALL, "queued"])
    runs: list[str] = []
    gate = anyio.Event()

    @ai.action("send_followup_email")
    async def send_followup_email(to: str, subject: str) -> str:
        runs.append(to)
        await gate.wait()
        return "sent"

    async with ai:
        manager = ActionManager.of(ai)
        row = await manager.request(manager.actions()["send_followup_email"], {"to": "a", "subject": "b"}, None)
        results: list[bool] = []

        async def worker() -> None:
            results.append(await manager.execute(row.id))

        async with anyio.create_task_group() as group:
            group.start_soon(worker)
            group.start_soon(worker)
            await anyio.sleep(0.05)
            gate.set()
        assert sorted(results) == [False, True] and runs == ["a"]


def test_unknown_action_names_are_configuration_errors() -> None:
    from ai_core import errors

    with make_ai(None, ["x"]) as ai:
        with pytest.raises(errors.ConfigurationError, match="no action named 'nope'"):
            ai.conversation().actions("nope")
        with pytest.raises(errors.ConfigurationError, match="action name"):
            ai.action("bad name!")(lambda: None)


CHILD = textwrap.dedent(
    """
    import sys, time
    from ai_core.actions import ActionManager
    from ai_core.config import load_settings
    from ai_core.testing import fake_ai
    from ai_core.types import ToolCallPart

    url, marker = sys.argv[1], sys.argv[2]
    call = [ToolCallPart(id="c1", name="send_followup_email", arguments={"to": "ada@example.com", "subject": "Hi"})]
    ai = fake_ai([call, "queued"], settings=load_settings(database_url=url, default_model="fake/echo"))
    ActionManager.of(ai).lease_seconds = 0.5

    @ai.action("send_followup_email")
    def send_followup_email(to: str, subject: str, action_id: str) -> str:
        with open(marker, "a") as file:
            file.write(f"started {action_id}\\n")
        time.sleep(600)  # killed here, mid-action
        return "never"

    ai.conversation(user="ada").actions().user("follow up").send()
    time.sleep(600)
    """
)


def test_an_action_killed_mid_run_is_completed_once_by_the_next_process(database_url: str, tmp_path: Path) -> None:
    script, marker = tmp_path / "child.py", tmp_path / "marker.txt"
    script.write_text(CHILD)
    env = {**os.environ, "AI_CONFIG_FILE": str(tmp_path / "none.toml"), "AI_DATA_DIR": str(tmp_path)}
    child = subprocess.Popen([sys.executable, str(script), database_url, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()):
            assert child.poll() is None, "the child exited before the action started"
            assert time.monotonic() < deadline, "the action never started"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    action_id = marker.read_text().split()[1]

    ai = make_ai(database_url, ["unused"])
    done: list[str] = []

    @ai.action("send_followup_email")
    def send_followup_email(to: str, subject: str, action_id: str) -> str:
        done.append(action_id)
        return f"sent to {to}"

    with ai:
        seen = watch(ai)
        row = anyio.run(ActionManager.of(ai).get, action_id)
        assert row is not None and (row.status, row.attempts) == ("running", 1)  # what the kill left
        ran = 0
        deadline = time.monotonic() + 60
        while ran == 0:  # the dead worker's lease (0.5 s) must expire first
            assert time.monotonic() < deadline
            ran = anyio.run(resume_actions, ai)
            time.sleep(0.1)
        assert anyio.run(resume_actions, ai) == 0  # nothing left: completed once
        ai.events.drain()
        row = anyio.run(ActionManager.of(ai).get, action_id)
        assert row is not None and (row.status, row.attempts, row.result) == ("succeeded", 2, "sent to ada@example.com")
        assert done == [action_id]
        assert [e.outcome for e in seen if isinstance(e, AgentActionCompleted)] == ["succeeded"]
        with ai.services.database.read() as conn:
            outcome = conn.execute(
                text("SELECT COUNT(*) FROM ai_messages WHERE conversation_id = :c AND CAST(parts AS TEXT) LIKE :t"),
                {"c": row.conversation_id, "t": f"%[action send_followup_email (id {action_id}) succeeded] sent to%"},
            ).scalar()
        assert outcome == 1  # appended to the stored conversation, once


@pytest.mark.anyio
async def test_the_approval_hook_sees_an_action_before_it_is_stored() -> None:
    from ai_core.mcp.approval import Approval

    ai = make_ai(None, [CALL, "understood", CALL, "queued"])
    runs: list[str] = []
    ai.action("send_followup_email")(lambda to, subject: runs.append(to) or "sent")
    seen_requests: list[Any] = []

    def no_mail_to_ada(request: Any) -> Approval:
        seen_requests.append(request)
        if request.arguments.get("to") == "ada@example.com" and len(seen_requests) == 1:
            return Approval.deny("Ada asked for no more e-mail")
        return Approval.approve()

    async with ai:
        chat = ai.conversation().actions().approver(no_mail_to_ada)
        await chat.user("mail Ada").asend()
        denied = next(m for m in chat.messages if m.role == "tool").parts[0]
        assert denied.is_error and "Ada asked for no more e-mail" in denied.content
        await ai.events.adrain()
        assert runs == [] and await ActionManager.of(ai).aresume() == 0  # nothing stored, nothing ran
        await chat.user("try again").asend()
        await ai.events.adrain()
        assert runs == ["ada@example.com"]
        assert seen_requests[0].name == "send_followup_email" and seen_requests[0].server is None
