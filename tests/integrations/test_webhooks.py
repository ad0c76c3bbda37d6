"""Webhooks: signed (verified by the receiver with the standardwebhooks library), in order,
retried with backoff, recorded, replayable, and never in the caller's way."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner

from ai_core import ExternalIntegrationTriggered, MessageAdded, ResponseGenerated
from ai_core.cli import cli
from ai_core.integrations.webhook_log import SQLDeliveryLog
from tests.integrations.conftest import Receiver
from tests.integrations.helpers import endpoint, make_ai, sender_of, settle


@pytest.mark.anyio
async def test_events_arrive_signed_verified_and_in_order(receiver: Receiver, sqlite_db: str) -> None:
    hook = endpoint(receiver.url, events=["message.added", "response.generated"])
    ai = make_ai(sqlite_db, webhooks=[hook])
    emitted: list[str] = []
    ai.on(MessageAdded, ResponseGenerated)(lambda event: emitted.append(event.id))
    try:
        chat = ai.conversation("fake/echo")
        for text in ("one", "two", "three"):
            await chat.user(text).asend()
        async for _ in ai.conversation("fake/echo").user("four").astream():
            pass
        settle(ai)
    finally:
        await ai.aclose()
    assert len(receiver.received) == len(emitted) == 12  # per turn: user message, answer, response
    assert all(r.verified is not None and not isinstance(r.verified, Exception) for r in receiver.received)
    assert [r.payload["data"]["id"] for r in receiver.received] == emitted
    first = receiver.received[0]
    assert first.payload["type"] == "message.added"
    assert first.headers["webhook-id"] and first.headers["webhook-signature"].startswith("v1,")
    answer = receiver.received[1].payload["data"]
    assert answer["role"] == "assistant" and answer["cost"] is not None and answer["usage"]["output_tokens"] > 0


@pytest.mark.anyio
async def test_a_forged_signature_is_refused_by_the_receiver(receiver: Receiver, sqlite_db: str) -> None:
    """The check can fail: a receiver holding another secret refuses every delivery."""
    import base64

    receiver.secret = "whsec_" + base64.b64encode(b"another secret, 32 bytes long!!!").decode()
    ai = make_ai(sqlite_db, webhooks=[endpoint(receiver.url, events=["response.generated"], max_attempts=1)])
    try:
        await ai.conversation().user("x").asend()
        settle(ai)
        rows = SQLDeliveryLog(ai.services.database).list()
    finally:
        await ai.aclose()
    assert [r.verified.__class__.__name__ for r in receiver.received] == ["WebhookVerificationError"]
    assert [(r["status"], r["last_status_code"]) for r in rows] == [("failed", 401)]


@pytest.mark.anyio
async def test_failures_are_retried_with_backoff_then_delivered_once(receiver: Receiver, database_url: str) -> None:
    receiver.fail_next(2, status=503)
    ai = make_ai(database_url, webhooks=[endpoint(receiver.url, events=["response.generated"])])
    outcomes: list[tuple[str, int]] = []
    ai.on(ExternalIntegrationTriggered)(lambda event: outcomes.append((event.status, event.attempts)))
    try:
        await ai.conversation().user("x").asend()
        settle(ai)
        rows = SQLDeliveryLog(ai.services.database).list()
    finally:
        await ai.aclose()
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one message, three attempts
    assert outcomes == [("retrying", 1), ("retrying", 2), ("delivered", 3)]
    (row,) = rows
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 3, 200)
    assert row["next_attempt_at"] is None
    assert row["delivered_at"] is not None and row["id"] == receiver.received[0].headers["webhook-id"]


def test_a_dead_receiver_ends_failed_visible_and_replayable(
    receiver: Receiver, sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.fail_next(2, status=500)
    hook = endpoint(receiver.url, events=["response.generated"], max_attempts=2)
    url = sqlite_db
    with make_ai(url, webhooks=[hook]) as ai:
        ai.conversation().user("x").send()
        settle(ai)
    monkeypatch.setenv("AI_DATABASE_URL", url)
    monkeypatch.setenv("AI_WEBHOOKS", json.dumps([hook]))
    runner = CliRunner()
    listed = runner.invoke(cli, ["webhooks", "deliveries", "--failed", "--json"])
    assert listed.exit_code == 0, listed.output
    (failed,) = json.loads(listed.output)
    assert (failed["status"], failed["attempts"], failed["last_error"]) == ("failed", 2, "HTTP 500")

    replayed = runner.invoke(cli, ["webhooks", "replay", failed["id"]])
    assert replayed.exit_code == 0, replayed.output
    assert "delivered" in replayed.output
    assert [r.headers["webhook-id"] for r in receiver.received] == [failed["id"]] * 3
    assert receiver.received[-1].body == receiver.received[0].body  # the same payload, freshly signed
    assert json.loads(runner.invoke(cli, ["webhooks", "deliveries", "--failed", "--json"]).output) == []

    missing = runner.invoke(cli, ["webhooks", "replay", "nope"])
    assert missing.exit_code != 0 and "no webhook delivery with id 'nope'" in missing.output
    assert "Traceback" not in missing.output


def test_list_and_test_commands(receiver: Receiver, sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integrations.helpers import SECRET

    monkeypatch.setenv("AI_DATABASE_URL", sqlite_db)
    monkeypatch.setenv("AI_WEBHOOKS", json.dumps([endpoint(receiver.url + "?token=abc", tenant="acme")]))
    runner = CliRunner()
    listed = runner.invoke(cli, ["webhooks", "list"])
    assert listed.exit_code == 0, listed.output
    assert "hooks" in listed.output and "tenant=acme" in listed.output
    assert "token=abc" not in listed.output and SECRET not in listed.output
    tested = runner.invoke(cli, ["webhooks", "test", "hooks"])
    assert tested.exit_code == 0, tested.output
    assert receiver.good()[0].payload["type"] == "webhook.test"
    unknown = runner.invoke(cli, ["webhooks", "test", "other"])
    assert unknown.exit_code != 0 and "no webhook endpoint named 'other'" in unknown.output
    receiver.fail_next(1, status=500)
    refused = runner.invoke(cli, ["webhooks", "test", "hooks"])
    assert refused.exit_code != 0 and "HTTP 500" in refused.output and "Traceback" not in refused.output


@pytest.mark.anyio
async def test_a_stalled_receiver_never_holds_up_a_call(receiver: Receiver, sqlite_db: str) -> None:
    release = threading.Event()
    handle = receiver.handle

    def stalled(path: str, headers: dict[str, str], body: bytes) -> int:
        release.wait(60)
        return handle(path, headers, body)

    receiver.handle = stalled  # type: ignore[method-assign]
    ai = make_ai(sqlite_db, webhooks=[endpoint(receiver.url, events=["response.generated"])])
    try:
        for text in ("a", "b", "c"):
            await ai.conversation().user(text).asend()
        assert ai.events.drain(30)  # the event worker is free too: it only handed the events over
        assert receiver.received == [] and sender_of(ai).pending == 3
        release.set()
        settle(ai)
    finally:
        release.set()
        await ai.aclose()
    assert len(receiver.good()) == 3


@pytest.mark.anyio
async def test_a_tenant_endpoint_gets_only_its_tenant(receiver: Receiver) -> None:
    ai = make_ai(webhooks=[endpoint(receiver.url, events=["*"], tenant="acme")])  # no database: a memory log
    try:
        await ai.conversation(tenant="acme").user("mine").asend()
        await ai.conversation(tenant="other").user("theirs").asend()
        await ai.conversation().user("nobody's").asend()
        settle(ai)
        log_rows: list[dict[str, Any]] = sender_of(ai).log.list()
    finally:
        await ai.aclose()
    tenants = {r.payload["data"].get("tenant") for r in receiver.good()}
    assert tenants == {"acme"} and len(receiver.good()) == len(log_rows) > 0
    assert "integration.triggered" not in {r.payload["type"] for r in receiver.good()}  # never its own outcomes


def test_secrets_stay_out_of_reprs() -> None:
    from tests.integrations.helpers import SECRET, settings

    configured = settings(webhooks=[endpoint("http://127.0.0.1:9/x")])
    assert SECRET not in repr(configured) and SECRET not in str(configured.webhooks)
