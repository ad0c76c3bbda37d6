"""The state of provider batch jobs (migration 0005), so an interrupted job resumes where it was."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import utcnow

__all__ = ["BatchJob"]


class BatchJob(Base):
    """One ``ai batch --provider-batch`` job: what was uploaded and submitted, and how far it got.

    ``status``: ``uploaded`` (the input file is at the provider), ``submitted``
    (a batch runs it), then the provider's own status while polling, and
    ``done`` once every result is written. ``items_digest`` is the SHA-256 of
    the uploaded lines: a job resumed with other items is refused.
    """

    __tablename__ = "ai_batch_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    provider: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    items_digest: Mapped[str] = mapped_column(String(64))
    item_count: Mapped[int] = mapped_column(Integer)
    input_file_id: Mapped[str | None] = mapped_column(String(255))
    batch_id: Mapped[str | None] = mapped_column(String(255))
    output_file_id: Mapped[str | None] = mapped_column(String(255))
    error_file_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
