"""Webhook deliveries left ``pending`` by a stopped process are resumed by the next one:
claimed first, so two processes sharing a database never send one delivery twice; retried
within the endpoint's limits, so a receiver down across a restart ends ``failed``."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from ai_core.integrations import webhooks
from ai_core.integrations.settings import WebhookEndpoint
from ai_core.integrations.webhook_log import SQLDeliveryLog
from ai_core.storage.columns import utcnow
from ai_core.storage.database import Database
from tests.integrations.conftest import Receiver
from tests.integrations.helpers import endpoint, make_ai, settle


@contextmanager
def deliveries(url: str) -> Iterator[SQLDeliveryLog]:
    """The delivery log of the database at ``url``, outside any AI (as another process sees it)."""
    database = Database.open(url)
    try:
        yield SQLDeliveryLog(database)
    finally:
        database.close()


def make_due(url: str) -> None:
    """Time passes: every pending delivery's next try is now in the past."""
    with deliveries(url) as log:
        for row in log.list(status="pending", limit=1000):
            log.update(row["id"], next_attempt_at=utcnow() - timedelta(seconds=1))


def left_pending(url: str, hook: dict[str, Any], count: int, *, due_in: float = -1.0) -> list[str]:
    """Rows as a process that died after a failed attempt leaves them (or, with ``due_in`` > 0,
    as a live process holds them while it tries)."""
    configured = WebhookEndpoint(**hook)
    ids = []
    with deliveries(url) as log:
        for n in range(count):
            body = json.dumps(
                {"type": "response.generated", "timestamp": "2026-12-01T10:00:00+00:00", "data": {"n": n}}
            )
            row = webhooks.new_delivery(configured, f"event-{n}", "response.generated", None, body)
            row.update(attempts=1, last_status_code=503, last_error="HTTP 503")
            row["next_attempt_at"] = utcnow() + timedelta(seconds=due_in)
            log.insert(row)
            ids.append(row["id"])
    return ids


@pytest.mark.anyio
async def test_a_delivery_left_pending_is_delivered_by_the_next_instance(receiver: Receiver, database_url: str) -> None:
    hook = endpoint(receiver.url, events=["response.generated"], backoff=3600, max_attempts=3)
    receiver.fail_next(1, status=503)  # down while the first instance runs
    first = make_ai(database_url, webhooks=[hook])
    try:
        await first.conversation().user("x").asend()
        assert first.events.drain(30)
    finally:
        await first.aclose()  # waits for the first attempt; the retry is an hour away
    with deliveries(database_url) as log:
        (row,) = log.list()
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 503)
    assert row["next_attempt_at"] > utcnow() + timedelta(minutes=30)

    make_due(database_url)  # the hour passed; the receiver is back
    second = make_ai(database_url, webhooks=[hook])
    try:
        settle(second)  # no event at all: binding the listener resumed it
    finally:
        await second.aclose()
    with deliveries(database_url) as log:
        (row,) = log.list()
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 2, 200)
    assert [r.headers["webhook-id"] for r in receiver.received] == [row["id"]] * 2
    assert receiver.received[1].body == receiver.received[0].body  # the same payload, freshly signed
    assert receiver.good() == receiver.received


def test_two_instances_started_together_send_each_delivery_once(receiver: Receiver, database_url: str) -> None:
    hook = endpoint(receiver.url, events=["response.generated"])
    due = left_pending(database_url, hook, 16)
    held = left_pending(database_url, hook, 1, due_in=3600)  # claimed by a live process: its lease runs
    other = left_pending(database_url, {**hook, "name": "other"}, 1)  # an endpoint these instances lack
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def instance() -> None:
        try:
            start.wait(30)
            with make_ai(database_url, webhooks=[hook]) as ai:
                settle(ai)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures and not any(thread.is_alive() for thread in threads)
    sent = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert sent == Counter(due)  # each due one exactly once, nothing else
    assert receiver.good() == receiver.received
    with deliveries(database_url) as log:
        status = {row["id"]: (row["status"], row["attempts"]) for row in log.list(limit=100)}
    assert {status[i] for i in due} == {("delivered", 2)}
    assert status[held[0]] == status[other[0]] == ("pending", 1)


@pytest.mark.anyio
async def test_a_receiver_down_across_a_restart_ends_failed(receiver: Receiver, database_url: str) -> None:
    receiver.fail_next(100, status=503)  # down for good
    hook = endpoint(receiver.url, events=["response.generated"], backoff=3600, max_attempts=3)
    first = make_ai(database_url, webhooks=[hook])
    try:
        await first.conversation().user("x").asend()
        assert first.events.drain(30)
    finally:
        await first.aclose()
    make_due(database_url)
    second = make_ai(database_url, webhooks=[{**hook, "backoff": 0.02}])  # restarted with a shorter backoff
    try:
        settle(second)
    finally:
        await second.aclose()
    with deliveries(database_url) as log:
        (row,) = log.list()
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 3, "HTTP 503")
    assert row["next_attempt_at"] is None
    assert [r.headers["webhook-id"] for r in receiver.received] == [row["id"]] * 3

    third = make_ai(database_url, webhooks=[hook])  # a failed one is never resumed
    try:
        settle(third)
    finally:
        await third.aclose()
    assert len(receiver.received) == 3


@pytest.mark.anyio
async def test_a_running_instance_looks_again_periodically(
    receiver: Receiver, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "RESUME_INTERVAL", 0.05)
    hook = endpoint(receiver.url, events=["response.generated"])
    ai = make_ai(database_url, webhooks=[hook])
    try:
        settle(ai)
        assert receiver.received == []
        (delivery_id,) = left_pending(database_url, hook, 1)  # e.g. a process that died mid-attempt, lease over
        deadline = time.monotonic() + 30  # only catches a hang
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        settle(ai)
    finally:
        await ai.aclose()
    assert [r.headers["webhook-id"] for r in receiver.good()] == [delivery_id]
    with deliveries(database_url) as log:
        row = log.get(delivery_id)
    assert row is not None and (row["status"], row["attempts"]) == ("delivered", 2)
