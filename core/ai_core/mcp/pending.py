"""Where deferred tool calls wait: the database when the ``AI`` persists, else memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = ["PendingCall", "PendingCalls"]


@dataclass(frozen=True)
class PendingCall:
    """A deferred tool call: ``conversation.approve(call_id)`` or ``.deny(call_id)`` decides it."""

    conversation_id: str
    call_id: str
    name: str
    tool: str
    server: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class PendingCalls:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._memory: dict[str, dict[str, PendingCall]] = {}

    async def add(self, calls: list[PendingCall]) -> None:
        if not calls:
            return
        database = self.services.database
        if database is None:
            for call in calls:
                self._memory.setdefault(call.conversation_id, {})[call.call_id] = call
            return
        from ai_core.mcp.tables import PendingToolCall

        rows = [
            {
                "conversation_id": c.conversation_id,
                "call_id": c.call_id,
                "name": c.name,
                "server": c.server,
                "tool": c.tool,
                "arguments": c.arguments,
                "reason": c.reason or None,
            }
            for c in calls
        ]

        def write() -> None:
            from sqlalchemy import insert

            with database.write() as conn:
                conn.execute(insert(PendingToolCall), rows)

        await database.run(write)

    async def list(self, conversation_id: str) -> list[PendingCall]:
        database = self.services.database
        if database is None:
            return list(self._memory.get(conversation_id, {}).values())
        from ai_core.mcp.tables import PendingToolCall

        def read() -> list[PendingCall]:
            from sqlalchemy import select

            table = PendingToolCall.__table__
            with database.read() as conn:
                rows = conn.execute(
                    select(table).where(table.c.conversation_id == conversation_id).order_by(table.c.created_at)
                ).mappings()
                return [
                    PendingCall(
                        conversation_id=row["conversation_id"],
                        call_id=row["call_id"],
                        name=row["name"],
                        tool=row["tool"],
                        server=row["server"],
                        arguments=dict(row["arguments"] or {}),
                        reason=row["reason"] or "",
                    )
                    for row in rows
                ]

        return await database.run(read)

    async def remove(self, conversation_id: str, call_id: str) -> bool:
        """Forget one call; False when it was not pending (decided already, elsewhere)."""
        database = self.services.database
        if database is None:
            return self._memory.get(conversation_id, {}).pop(call_id, None) is not None
        from ai_core.mcp.tables import PendingToolCall

        def delete() -> bool:
            from sqlalchemy import delete as sql_delete

            with database.write() as conn:
                result = conn.execute(
                    sql_delete(PendingToolCall).where(
                        PendingToolCall.conversation_id == conversation_id, PendingToolCall.call_id == call_id
                    )
                )
                return bool(result.rowcount)

        return await database.run(delete)
