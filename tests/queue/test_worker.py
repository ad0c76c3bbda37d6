"""Listeners on real Dramatiq workers: a conversation's events handled by another process,
a worker killed mid-task (SIGKILL) and restarted, and every event's effect exactly once."""

from __future__ import annotations

import signal

import pytest
from queue_harness import Stack, wait_until

from ai_core import AI
from ai_core.plugins import PluginRegistry


def _ai(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> AI:
    import qtest_listeners

    from ai_core import builtin
    from ai_core.drivers import fake_plugin

    for name in ("AI_QUEUE_URL", "AI_CONFIG_FILE", "AI_DATA_DIR"):
        monkeypatch.setenv(name, stack.env[name])
    monkeypatch.setenv("QTEST_DIR", str(stack.signals))
    registry = PluginRegistry([("core", builtin), ("fake", fake_plugin), ("qtest", qtest_listeners)])
    return AI(database_url=stack.db_url, registry=registry)


def test_worker_killed_mid_task_loses_nothing_and_applies_the_event_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qtest_listeners

    ai = _ai(stack, monkeypatch)
    assert ai.events.relay is not None and [item.name for item in ai.events.relay.listeners] == [
        "qtest-response",
        "qtest-synced",
        "qtest-action-completed",
    ]
    first = stack.start("worker", "--threads", "1")
    (stack.signals / "block").touch()
    try:
        reply = ai.conversation("fake/echo").user("hello").send()
        assert reply.text
        assert ai.events.drain(60)
    finally:
        ai.close()
    assert qtest_listeners.LOCAL_CALLS == []  # the listener did not run here: it was queued
    (event_id, pid), *_ = wait_until(stack.started, "the worker to start the listener")
    assert pid == first.pid

    stack.kill(first, signal.SIGKILL)  # mid-task: the listener is blocked on the signal file
    assert stack.effects() == []
    (stack.signals / "block").unlink()

    second = stack.start("worker", "--threads", "1")
    wait_until(stack.effects, "the restarted worker to apply the event", timeout=120)
    wait_until(stack.idle, "the queue to drain")
    assert any(started_pid == second.pid for _, started_pid in stack.started(event_id)), stack.logs()
    assert stack.effects() == [(event_id, second.pid, "response")]
    assert stack.markers() == [(event_id, "qtest_listeners:qtest-response")]

    # A redelivery after the effect was committed (a worker killed before its ack) changes nothing.
    from ai_core.config import load_settings
    from ai_core.events.types import ResponseGenerated
    from ai_core.queue.broker import make_broker, send_event

    monkeypatch.setenv("AI_QUEUE_URL", stack.redis_url)
    broker = make_broker(load_settings())
    before = len(stack.started(event_id))
    payload = ResponseGenerated(
        id=event_id,
        conversation_id=None,
        message_id=None,
        provider="fake",
        model="echo",
        usage={"input_tokens": 1, "output_tokens": 1},
        cost=None,
        latency_ms=None,
        finish_reason="stop",
    ).model_dump_json()
    for _ in range(2):
        send_event(broker, "qtest_listeners:qtest-response", ResponseGenerated.name, payload, retries=0)
    wait_until(stack.idle, "the duplicates to be handled")
    assert len(stack.started(event_id)) == before  # skipped before the listener ran: its marker exists
    assert stack.effects() == [(event_id, second.pid, "response")]
    assert stack.kill(second, signal.SIGTERM) in (0, 143), stack.logs()


@pytest.mark.anyio
async def test_async_conversation_events_reach_a_worker(any_db_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = any_db_stack
    worker = stack.start("worker", "--threads", "2")
    ai = _ai(stack, monkeypatch)
    try:
        replies = [await ai.conversation("fake/echo").user(f"turn {n}").asend() for n in range(3)]
        assert all(reply.text for reply in replies)
        assert await ai.events.adrain(60)
    finally:
        await ai.aclose()
    effects = wait_until(lambda: len(stack.effects()) == 3 and stack.effects(), "three events applied")
    assert {pid for _, pid, _ in effects} == {worker.pid}
    assert len({event for event, _, _ in effects}) == 3
    wait_until(stack.idle, "the queue to drain")
    status = stack.status()
    assert status["engine"] == "dramatiq" and status["workers"] >= 1 and "error" not in status


def test_unreachable_queue_runs_the_listener_in_process(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import qtest_listeners

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stack.env["AI_QUEUE_URL"] = f"redis://127.0.0.1:{port}/0"
    ai = _ai(stack, monkeypatch)
    qtest_listeners.LOCAL_CALLS.clear()
    try:
        reply = ai.conversation("fake/echo").user("hello").send()
        assert ai.events.drain(60)
    finally:
        ai.close()
    assert reply.text
    assert len(qtest_listeners.LOCAL_CALLS) == 1  # not lost: run here instead


def test_a_failing_listener_is_retried_then_dead_lettered(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    (stack.signals / "fail").touch()
    worker = stack.start("worker", "--threads", "1")
    ai = _ai(stack, monkeypatch)
    try:
        ai.conversation("fake/echo").user("hello").send()
        assert ai.events.drain(60)
    finally:
        ai.close()

    def dead() -> bool:
        return stack.status()["queues"]["ai-core-events"]["dead"] == 1

    wait_until(dead, "the event to be dead-lettered after its retries")
    starts = stack.started()
    assert len(starts) == 3 and {pid for _, pid in starts} == {worker.pid}  # the first try and retries = 2
    assert stack.effects() == [] and stack.markers() == []  # nothing half-applied
    assert worker.poll() is None  # the worker outlives its listener's failures
    assert "ai-core-events: 0 waiting, 0 retrying, 1 dead" in stack.ai("worker", "--status").stdout
