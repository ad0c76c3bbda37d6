"""The integrations' settings: webhook endpoints, notification channels, thresholds.

They live in the config file (``[[webhooks]]``, ``[notifications]``) or in
``AI_WEBHOOKS`` / ``AI_NOTIFICATIONS`` as JSON. Secrets and passwords are
:class:`~pydantic.SecretStr`: they never show in a repr, a log line or an error.
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["NotificationChannel", "NotificationSettings", "WebhookEndpoint"]


class WebhookEndpoint(BaseModel):
    """One receiver of events.

    ``secret`` is a Standard Webhooks secret (``whsec_`` + base64, as the
    receivers' libraries generate); ``events`` lists event names
    (``response.generated``) or ``*`` for all; ``tenant`` limits the endpoint
    to that tenant's events.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    url: str = Field(pattern=r"^https?://\S+$")
    secret: SecretStr
    events: tuple[str, ...] = ("*",)
    tenant: str | None = None
    timeout: float = Field(10.0, gt=0, le=300, description="seconds per attempt")
    max_attempts: int = Field(6, ge=1, le=50)
    backoff: float = Field(2.0, gt=0, le=3600, description="seconds before the first retry; doubled each time")
    max_backoff: float = Field(3600.0, gt=0)

    @field_validator("secret")
    @classmethod
    def _decodable(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().removeprefix("whsec_")
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except ValueError:
            key = b""
        if len(key) < 16:
            raise ValueError("must be a Standard Webhooks secret: whsec_ and at least 16 bytes in base64")
        return value

    def wants(self, event_name: str, tenant: str | None) -> bool:
        if self.tenant is not None and tenant != self.tenant:
            return False
        return "*" in self.events or event_name in self.events


class NotificationChannel(BaseModel):
    """Where notifications go: ``smtp`` (e-mail), ``slack`` (an incoming webhook URL,
    Slack's or a compatible one: Mattermost, Rocket.Chat) or ``webhook`` (a
    configured webhook endpoint, by name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["smtp", "slack", "webhook"]
    name: str = ""
    # smtp
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    sender: str = "ai-core@localhost"
    to: tuple[str, ...] = ()
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    ssl: bool = False
    # slack
    url: SecretStr | None = None
    # webhook
    endpoint: str | None = None
    timeout: float = Field(10.0, gt=0, le=300)

    def label(self) -> str:
        return self.name or self.type


class NotificationSettings(BaseModel):
    """What notifies and how often.

    ``on``: ``budget`` (a budget threshold or overshoot), ``circuit`` (a breaker
    opened), ``error_rate`` (failures over ``error_rate_threshold`` of the
    calls in the last ``error_rate_window`` seconds, once at least
    ``error_rate_min_requests`` were made), ``cost_anomaly``. The same subject
    notifies at most once per ``dedupe_seconds``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: tuple[NotificationChannel, ...] = ()
    on: tuple[Literal["budget", "circuit", "error_rate", "cost_anomaly"], ...] = ("budget", "circuit", "error_rate")
    dedupe_seconds: float = Field(3600.0, ge=0)
    error_rate_threshold: float = Field(0.5, gt=0, le=1)
    error_rate_window: float = Field(300.0, gt=0)
    error_rate_min_requests: int = Field(10, ge=1)
