"""Notifications reach a real SMTP server, a Slack-compatible receiver and a signed webhook, once per subject."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from ai_core import CircuitOpened, ExternalIntegrationTriggered
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import ProviderUnavailableError
from ai_core.integrations.tables import NotificationMark
from ai_core.storage.base import table_of
from tests.integrations.conftest import Mailbox, Receiver
from tests.integrations.helpers import SECRET, make_ai, settle


def test_a_budget_threshold_is_mailed_once(smtp_server: Mailbox, sqlite_db: str) -> None:
    mail = {"type": "smtp", "host": "127.0.0.1", "port": smtp_server.port, "to": ["ops@example.com"]}
    budget = {"name": "daily", "limit": Decimal("0.00001"), "period": "daily", "thresholds": ["0.5"], "hard": False}
    ai = make_ai(sqlite_db, budgets=[budget], notifications={"channels": [mail]})
    sent: list[str] = []
    ai.on(ExternalIntegrationTriggered)(lambda e: sent.append(f"{e.integration}:{e.target}:{e.status}"))
    try:
        for text in ("one", "two", "three"):
            ai.conversation().user(text).send()
        settle(ai)
    finally:
        ai.close()
    (message,) = smtp_server.messages
    assert message["Subject"] == "[ai-core] Budget 'daily' reached 50%"
    assert message["To"] == "ops@example.com"
    body = message.get_payload(decode=True).decode()
    assert "budget 'daily' (global:*, daily) reached 50% of its limit: spent 0.0000065 of 0.00001 USD" in body
    assert sent == ["notification:smtp:delivered"]


def test_an_error_storm_sends_one_slack_message(receiver: Receiver, database_url: str) -> None:
    storm = [ProviderUnavailableError(f"failure {n}", provider="fake") for n in range(12)]
    slack = {"type": "slack", "url": receiver.url}
    notifications = {"channels": [slack], "on": ["error_rate"], "error_rate_min_requests": 3}
    drivers = {"fake": FakeDriver.scripted(storm)}
    ai = make_ai(database_url, drivers=drivers, notifications=notifications, retry_attempts=0)
    try:
        for _ in range(12):
            with pytest.raises(ProviderUnavailableError):
                ai.conversation().user("x").send()
        settle(ai)
        with ai.services.database.read() as conn:
            marks = conn.execute(select(table_of(NotificationMark))).mappings().all()
    finally:
        ai.close()
    (post,) = receiver.received
    text = json.loads(post.body)["text"]
    assert text.startswith("*[ai-core] Error rate of fake at 100%*")
    assert "3 of the last 3 calls to 'fake' failed" in text
    assert [(m["subject"], m["suppressed"]) for m in marks] == [("error_rate:fake", 9)]


def test_a_breaker_opening_notifies_a_signed_webhook(receiver: Receiver) -> None:
    hook = {"name": "ops", "url": receiver.url, "secret": SECRET, "events": ["nothing.else"]}
    notifications = {"channels": [{"type": "webhook", "endpoint": "ops"}], "on": ["circuit"]}
    failures = [ProviderUnavailableError("down", provider="fake") for _ in range(8)]
    ai = make_ai(drivers={"fake": FakeDriver.scripted(failures)}, webhooks=[hook], notifications=notifications,
                 retry_attempts=0)  # fmt: skip
    opened: list[CircuitOpened] = []
    ai.on(CircuitOpened)(opened.append)
    try:
        for _ in range(8):
            with pytest.raises(ProviderUnavailableError):
                ai.conversation().user("x").send()
        settle(ai)
    finally:
        ai.close()
    assert [e.provider for e in opened] == ["fake"]
    (post,) = receiver.good()  # verified with the endpoint's secret
    assert post.payload["type"] == "notification"
    assert post.payload["data"]["subject"] == "[ai-core] Provider fake unavailable"
    assert post.payload["data"]["event"] == "provider.circuit_opened"


def test_without_channels_nothing_listens() -> None:
    ai = make_ai()
    try:
        assert "notifications" not in [listener.name for listener in ai.events.listeners]
    finally:
        ai.close()
