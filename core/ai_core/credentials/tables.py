"""The two tables behind encrypted credentials: ``ai_accounts`` and ``ai_audit_log``.

``ai_accounts`` never holds a secret in plain text: ``encrypted_credential`` is
a Fernet token, ``key_fingerprint`` names the key that made it (so a rotation
that crashed half-way can be finished, and ``ai keys list`` can show which rows
still wait for the new key), and ``hint`` is the only readable trace of the
secret, a masked suffix chosen so short secrets reveal nothing.

``ai_audit_log`` records who read, set, rotated or deleted which account, and
when. It has no foreign key to ``ai_accounts`` on purpose: the trail must
outlive the account it describes, and it names the provider and account itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base

__all__ = ["DEFAULT_ACCOUNT", "NO_TENANT", "Account", "AuditLogEntry"]

NO_TENANT = ""
"""Stored for "no tenant": NULLs never compare equal in a UNIQUE constraint."""

DEFAULT_ACCOUNT = "default"


def _now() -> datetime:
    return datetime.now(UTC)


class Account(Base):
    """One stored credential for one provider account, optionally per tenant."""

    __tablename__ = "ai_accounts"
    __table_args__ = (
        UniqueConstraint("provider", "name", "tenant"),
        Index(None, "key_fingerprint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default=DEFAULT_ACCOUNT)
    tenant: Mapped[str] = mapped_column(String(128), nullable=False, default=NO_TENANT)
    label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    encrypted_credential: Mapped[str] = mapped_column(Text, nullable=False)
    """A Fernet token (URL-safe base64 text); never the secret itself."""
    key_fingerprint: Mapped[str] = mapped_column(String(32), nullable=False)
    """Short SHA-256 fingerprint of the key that produced the token."""
    key_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    """How many rotations this row has been through; grows by one per rotation."""
    hint: Mapped[str] = mapped_column(String(16), nullable=False)
    """A masked suffix such as ``****wxyz``; ``****`` alone for short secrets."""
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_now, onupdate=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def __repr__(self) -> str:
        # The token is not the secret, but it need not travel into logs either.
        return (
            f"Account(id={self.id!r}, provider={self.provider!r}, name={self.name!r}, "
            f"tenant={self.tenant!r}, hint={self.hint!r}, active={self.active!r})"
        )


class AuditLogEntry(Base):
    """One credential access: who did what to which account, and when. Never the secret."""

    __tablename__ = "ai_audit_log"
    __table_args__ = (
        Index(None, "occurred_at"),
        Index(None, "account_id"),
        Index(None, "provider", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_now)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    """The configured actor (``AI_ACTOR``) or the OS user running the process."""
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    """``read``, ``set``, ``rotate``, ``delete`` or ``list``."""
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    """``ok``, ``missing`` (nothing stored) or ``error`` (e.g. wrong key)."""
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    account_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    tenant: Mapped[str | None] = mapped_column(String(128), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """Non-secret context, such as the key fingerprint a rotation moved to."""
