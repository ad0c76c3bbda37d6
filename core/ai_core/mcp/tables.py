"""``ai_mcp_pending_calls``: tool calls an approver deferred, awaiting ``approve()``/``deny()``.

A row is written when a turn ends on a deferred call and deleted when the call
is decided (its result, or the denial, is then an ordinary tool message of the
conversation). What the row holds is enough to run the call in another
process: the server, the tool's own name and the arguments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ai_core.storage.base import Base
from ai_core.storage.columns import JSONType, utcnow

__all__ = ["PendingToolCall"]


class PendingToolCall(Base):
    __tablename__ = "ai_mcp_pending_calls"

    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ai_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    """The name the model called (``server__tool``)."""
    server: Mapped[str | None] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(255))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
