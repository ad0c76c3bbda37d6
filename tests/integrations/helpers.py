"""Building an AI with integrations configured, for these tests."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ai_core import AI
from ai_core.config import Settings
from ai_core.testing import fake_registry

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def settings(database_url: str | None = None, **values: Any) -> Settings:
    """Settings of these tests: SQL storage when ``database_url`` is given, else none."""
    values.setdefault("default_model", "fake/echo")
    if database_url is None:
        return Settings(persistence=False, **values)
    return Settings(persistence=True, database_url=database_url, **values)


def make_ai(database_url: str | None = None, *, drivers: dict[str, Any] | None = None, **values: Any) -> AI:
    return AI(settings=settings(database_url, **values), registry=fake_registry(), drivers=drivers)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ai.db'}"


def endpoint(url: str, **values: Any) -> dict[str, Any]:
    return {"name": "hooks", "url": url, "secret": SECRET, "backoff": 0.02, **values}


def sender_of(ai: AI) -> Any:
    from ai_core.integrations.webhooks import WebhookSender

    return next(listener.handler for listener in ai.events.listeners if isinstance(listener.handler, WebhookSender))


def settle(ai: AI, rounds: int = 3) -> None:
    """Wait for events, deliveries, and the events deliveries emit."""
    for _ in range(rounds):
        assert ai.events.drain(30)
        for listener in ai.events.listeners:
            drain = getattr(listener.handler, "drain", None)
            if drain is not None:
                assert drain(30)
