"""Sending one notification through one channel: SMTP, a Slack-compatible webhook, or a signed webhook."""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ai_core import errors

if TYPE_CHECKING:
    from ai_core.integrations.settings import NotificationChannel, WebhookEndpoint

__all__ = ["send_notification"]


async def send_notification(
    channel: NotificationChannel,
    subject: str,
    text: str,
    data: dict[str, Any],
    endpoints: dict[str, WebhookEndpoint],
) -> int | None:
    """Send; return the HTTP status for web channels. Raises on failure."""
    if channel.type == "smtp":
        await anyio.to_thread.run_sync(_send_mail, channel, subject, text)
        return None
    if channel.type == "slack":
        if channel.url is None:
            raise errors.ConfigurationError(f"notification channel {channel.label()!r} has no url")
        body = json.dumps({"text": f"*{subject}*\n{text}"})
        return await _post(channel.url.get_secret_value(), body, {"content-type": "application/json"}, channel.timeout)
    endpoint = endpoints.get(channel.endpoint or "")
    if endpoint is None:
        raise errors.ConfigurationError(
            f"notification channel {channel.label()!r} names no configured webhook endpoint ({channel.endpoint!r})"
        )
    from ai_core.integrations.webhook_signing import signed_headers
    from ai_core.pipeline.store import new_id

    now = datetime.now(UTC)
    body = json.dumps(
        {"type": "notification", "timestamp": now.isoformat(), "data": {"subject": subject, "text": text, **data}},
        separators=(",", ":"),
    )
    headers = signed_headers(endpoint.secret.get_secret_value(), new_id(), body, now)
    return await _post(endpoint.url, body, headers, channel.timeout)


async def _post(url: str, body: str, headers: dict[str, str], seconds: float) -> int:
    from ai_core.drivers.http import AsyncClient, HTTPError

    async with AsyncClient(follow_redirects=False) as client:
        try:
            response = await client.post(url, content=body.encode(), headers=headers, timeout=seconds)
        except HTTPError as exc:  # never the URL: a Slack webhook URL is a secret
            raise errors.IntegrationError(f"notification not delivered: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise errors.IntegrationError(f"notification refused: HTTP {response.status_code}")
    return response.status_code


def _send_mail(channel: NotificationChannel, subject: str, text: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(text)
    smtp_class = smtplib.SMTP_SSL if channel.ssl else smtplib.SMTP
    with smtp_class(channel.host, channel.port, timeout=channel.timeout) as smtp:
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if channel.username and channel.password is not None:
            smtp.login(channel.username, channel.password.get_secret_value())
        smtp.send_message(message)
