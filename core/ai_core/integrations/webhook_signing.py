"""What a webhook receiver gets: a JSON body and Standard Webhooks headers.

The body is ``{"type": <event name>, "timestamp": <ISO 8601>, "data": <the
event's fields>}``. The headers are ``webhook-id`` (the delivery's id, the
same on every retry and replay, so a receiver can drop duplicates),
``webhook-timestamp`` (seconds, fresh on each attempt) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``),
made by the ``standardwebhooks`` library, so a receiver verifies with that
library (Python, JavaScript, Go, Rust, Java, Ruby, PHP, C#...) in two lines::

    from standardwebhooks import Webhook
    event = Webhook(secret).verify(body, headers)   # raises if forged or stale
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["event_body", "signed_headers", "test_body"]


def event_body(event: Any) -> str:
    """The JSON text sent for ``event`` (an :class:`~ai_core.events.types.Event`)."""
    return json.dumps(
        {"type": event.name, "timestamp": event.occurred_at.isoformat(), "data": event.model_dump(mode="json")},
        separators=(",", ":"),
    )


def test_body(endpoint: str) -> str:
    """The body of ``ai webhooks test``: type ``webhook.test``."""
    now = datetime.now(UTC)
    return json.dumps(
        {"type": "webhook.test", "timestamp": now.isoformat(), "data": {"endpoint": endpoint}},
        separators=(",", ":"),
    )


def signed_headers(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    from standardwebhooks.webhooks import Webhook

    now = now or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
        "content-type": "application/json",
        "user-agent": "ai-core-webhooks",
    }
