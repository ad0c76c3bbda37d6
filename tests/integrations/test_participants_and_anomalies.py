"""Conversation participants (API and `ai conversations show`), and cost anomalies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner

from ai_core import ConfigurationError, CostAnomalyDetected
from ai_core.cli import cli
from ai_core.drivers.fake import FakeDriver
from tests.integrations.helpers import make_ai


def test_participants_are_stored_listed_and_shown(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ai = make_ai(sqlite_db)
    try:
        chat = ai.conversation("fake/echo", user="ann", tenant="acme").add_participant("bob", "reviewer")
        chat.user("hello").send()
        chat.add_participant("bob", "owner")  # again: the role changes
        people = {(p.name, p.kind, p.role) for p in chat.participants}
        stranger = ai.conversation(id=chat.id, user="eve", tenant="other")
        with pytest.raises(ConfigurationError, match="no stored conversation"):
            stranger.add_participant("eve", "owner")
    finally:
        ai.close()
    assert people == {("bob", "user", "owner"), ("ann", "user", None), ("fake/echo", "model", None)}
    monkeypatch.setenv("AI_DATABASE_URL", sqlite_db)
    shown = CliRunner().invoke(cli, ["conversations", "show", chat.id, "--tenant", "acme", "--user", "ann"])
    assert shown.exit_code == 0, shown.output
    assert "participants:" in shown.output and "bob (owner)" in shown.output and "fake/echo (model)" in shown.output


def test_participants_need_persistence() -> None:
    ai = make_ai()
    try:
        with pytest.raises(ConfigurationError, match="need persistence"):
            ai.conversation().add_participant("bob")
    finally:
        ai.close()


def test_a_call_far_above_the_recent_average_is_an_anomaly() -> None:
    from ai_core import ChatResponse, Message, TokenUsage

    def answer(output_tokens: int) -> ChatResponse:
        usage = TokenUsage(input_tokens=5, output_tokens=output_tokens, total_tokens=5 + output_tokens)
        return ChatResponse(provider="fake", model="echo", message=Message.assistant("ok"), usage=usage)

    script = [answer(2) for _ in range(6)] + [answer(5000)]
    ai = make_ai(drivers={"fake": FakeDriver.scripted(script)}, cost_anomaly_detection=True)
    found: list[CostAnomalyDetected] = []
    ai.on(CostAnomalyDetected)(found.append)
    try:
        for _ in range(7):
            ai.conversation(user="ann").user("hi").send()
        assert ai.events.drain(30)
    finally:
        ai.close()
    (anomaly,) = found
    assert anomaly.basis == "user" and anomaly.user == "ann"
    assert anomaly.ratio > anomaly.threshold == Decimal(10)
    assert anomaly.cost > 10 * anomaly.average


def test_anomaly_detection_is_off_unless_asked_for() -> None:
    ai = make_ai()
    try:
        assert "cost_anomaly" not in [listener.name for listener in ai.events.listeners]
    finally:
        ai.close()
