"""One attempt at an action (ActionManager.run) on SQLite and PostgreSQL: the lease renewed while
it runs, a follow-up cut short by a crash finished once, actions registered for the whole
process, and where ``ai worker`` looks for them."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from ai_core import errors
from ai_core.actions import ActionManager, ActionSpec, action
from ai_core.actions.manager import completed_event_id
from ai_core.config import Settings, load_settings
from ai_core.events.types import AgentActionCompleted
from ai_core.testing import fake_ai
from ai_core.types import ToolCallPart


def make_ai(database_url: str | None, replies: list[Any] | str = "unused") -> Any:
    settings = load_settings(persistence=database_url is not None, database_url=database_url, default_model="fake/echo")
    return fake_ai(replies, settings=settings)


@pytest.mark.anyio
async def test_a_running_action_keeps_its_lease_while_it_runs(database_url: str) -> None:
    ai = make_ai(database_url)
    release = anyio.Event()

    @ai.action("slow")
    async def slow() -> str:
        await release.wait()
        return "done"

    async with ai:
        manager = ActionManager.of(ai)
        manager.lease_seconds = 2.0  # renewed every 2/3 s
        row = await manager.request(manager.actions()["slow"], {}, None)
        results: list[Any] = []

        async def run() -> None:
            results.append(await manager.run(row.id))

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            for _ in range(7):  # 3.5 s: well past one lease, so only renewal keeps others out
                await anyio.sleep(0.5)
                with anyio.fail_after(20):  # had the lease lapsed, this would claim and block on release
                    other = await manager.run(row.id)
                assert other.state == "busy" and other.retry_at is not None
            release.set()
        assert [r.state for r in results] == ["completed"]
        stored = await manager.get(row.id)
        assert stored is not None and (stored.status, stored.attempts, stored.result) == ("succeeded", 1, "done")


@pytest.mark.anyio
async def test_a_follow_up_cut_short_is_finished_once_after_a_lease(database_url: str) -> None:
    call = [ToolCallPart(id="c1", name="note", arguments={"text": "hi"})]
    ai = make_ai(database_url, [call, "queued"])
    ai.action("note")(lambda text: f"noted {text}")
    async with ai:
        manager = ActionManager.of(ai)
        manager.lease_seconds = 0.2
        chat = ai.conversation(user="ada").actions("note")
        await chat.user("note it").asend()  # stores the conversation and the request
        await ai.events.adrain()
        (action_id,) = [r[0] for r in _actions(ai)]
        # As if the process that completed it died before its follow-up: outcome recorded, nothing else.
        database = ai.services.database
        with database.write() as conn:
            conn.execute(text("DELETE FROM ai_processed_events WHERE event_id = :a"), {"a": action_id})
            conn.execute(
                text("DELETE FROM ai_messages WHERE CAST(parts AS TEXT) LIKE :t"), {"t": f"%(id {action_id})%"}
            )
        del chat  # no live conversation object: the outcome goes to the store
        gc.collect()  # (the conversation and its action tools refer to each other)
        seen: list[AgentActionCompleted] = []
        ai.on(AgentActionCompleted)(seen.append)
        now = datetime.now(UTC)
        with database.write() as conn:  # completed just now: its run may still be finishing the follow-up
            conn.execute(text("UPDATE ai_agent_actions SET completed_at = :t"), {"t": now})
        first = await manager.run(action_id)
        assert first.state == "busy" and first.retry_at is not None and first.retry_at > now
        with database.write() as conn:  # a lease later, it is known dead
            conn.execute(text("UPDATE ai_agent_actions SET completed_at = :t"), {"t": now - timedelta(seconds=5)})
        assert (await manager.run(action_id)).state == "done"
        assert (await manager.run(action_id)).state == "done"  # marked: nothing more
        await ai.events.adrain()
        assert [(e.id, e.outcome) for e in seen] == [(completed_event_id(action_id), "succeeded")]
        assert _stored(ai, f"[action note (id {action_id}) succeeded] noted hi") == 1
        assert (await manager.get(action_id)).attempts == 1  # type: ignore[union-attr]  # not run again


@pytest.mark.anyio
async def test_a_follow_up_whose_message_is_stored_is_not_appended_again(database_url: str) -> None:
    call = [ToolCallPart(id="c1", name="note", arguments={"text": "hi"})]
    ai = make_ai(database_url, [call, "queued", "ok"])
    ai.action("note")(lambda text: f"noted {text}")
    async with ai:
        manager = ActionManager.of(ai)
        manager.lease_seconds = 0.2
        chat = ai.conversation(user="ada").actions("note")
        await chat.user("note it").asend()
        await ai.events.adrain()
        await chat.user("and?").asend()  # stores the outcome with this turn
        (action_id,) = [r[0] for r in _actions(ai)]
        database = ai.services.database
        with database.write() as conn:  # died after the message, before the marker
            conn.execute(text("DELETE FROM ai_processed_events WHERE event_id = :a"), {"a": action_id})
            conn.execute(text("UPDATE ai_agent_actions SET completed_at = :t"), {"t": datetime.now(UTC) - timedelta(1)})
        del chat
        gc.collect()
        assert (await manager.run(action_id)).state == "done"
        assert _stored(ai, f"(id {action_id}) succeeded") == 1


def _stored(ai: Any, fragment: str) -> int:
    """How many stored messages contain ``fragment``."""
    with ai.services.database.read() as conn:
        query = text("SELECT COUNT(*) FROM ai_messages WHERE CAST(parts AS TEXT) LIKE :t")
        return int(conn.execute(query, {"t": f"%{fragment}%"}).scalar_one())


def _actions(ai: Any) -> list[tuple[Any, ...]]:
    with ai.services.database.read() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT id, status FROM ai_agent_actions"))]


@pytest.mark.anyio
async def test_a_run_of_nothing_is_missing() -> None:
    async with make_ai(None) as ai:
        assert (await ActionManager.of(ai).run("f" * 32)).state == "missing"


def test_module_level_actions_are_offered_by_every_ai_and_an_own_action_wins() -> None:
    @action("zz_shared_lookup", description="Look something up.")
    def lookup(query: str) -> str:
        return f"shared {query}"

    with make_ai(None) as first, make_ai(None) as second:
        first.action("zz_shared_lookup")(lambda query: f"own {query}")
        assert ActionManager.of(second).actions()["zz_shared_lookup"].func is lookup
        assert ActionManager.of(first).actions()["zz_shared_lookup"].func is not lookup
        tools = second.conversation().actions("zz_shared_lookup")._functions
        assert [tool.spec.name for tool in tools] == ["zz_shared_lookup"]
    with pytest.raises(errors.ConfigurationError, match="action name"):
        action("not ok!")(lambda: None)


def test_a_worker_finds_an_action_any_ai_of_its_process_registered() -> None:
    with make_ai(None) as app, make_ai(None) as worker:
        app.action("zz_only_on_app")(lambda: "x")
        manager = ActionManager.of(worker)
        assert "zz_only_on_app" not in manager.actions()  # not offered to this AI's conversations
        spec = manager.find("zz_only_on_app")
        assert isinstance(spec, ActionSpec) and spec.func() == "x"  # but run if requested


def test_where_a_worker_looks_for_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_core.queue.settings import action_modules
    from ai_core.queue.worker import import_action_modules

    assert action_modules(Settings()) == []
    assert action_modules(Settings(queue={"actions": ["json", "email.utils"]})) == ["json", "email.utils"]
    both = Settings(queue_actions=" json , email.utils", queue={"actions": ["ignored"]})
    assert action_modules(both) == ["json", "email.utils"]  # the environment wins
    assert import_action_modules(both) == ["json", "email.utils"]
    with pytest.raises(errors.ConfigurationError, match="not a module name"):
        action_modules(Settings(queue_actions="my-app.actions"))
    with pytest.raises(ValueError, match="not a module name"):
        Settings(queue={"actions": ["a b"]})
    missing = Settings(queue_actions="zz_no_such_module_here")
    with pytest.raises(errors.ConfigurationError) as caught:
        import_action_modules(missing)
    assert "cannot import the actions module 'zz_no_such_module_here'" in str(caught.value)
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("AI_QUEUE_ACTIONS", "json")
    assert action_modules(load_settings()) == ["json"]
