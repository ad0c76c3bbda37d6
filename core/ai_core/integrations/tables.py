"""The integrations' tables: webhook deliveries and notification marks (migration 0006)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import utcnow

__all__ = ["NotificationMark", "WebhookDelivery"]


class WebhookDelivery(Base):
    """One event sent to one endpoint: its payload as signed, and every attempt's outcome.

    ``status`` is ``pending`` (not delivered yet; ``next_attempt_at`` says when
    it is tried again), ``delivered`` or ``failed`` (out of attempts, or the
    receiver refused it for good). The payload is stored exactly as sent, so a
    replay carries the same bytes and the same ``webhook-id``.
    """

    __tablename__ = "ai_webhook_deliveries"
    __table_args__ = (
        Index(None, "status", "created_at"),
        Index(None, "endpoint", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(2048))
    tenant: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationMark(Base):
    """When a notification subject was last sent, so a storm sends one message per period."""

    __tablename__ = "ai_notification_marks"

    subject: Mapped[str] = mapped_column(String(512), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
