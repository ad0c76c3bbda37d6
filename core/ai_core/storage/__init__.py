"""SQL persistence: the database, the conversation store and the schema.

Import-light: SQLAlchemy loads only when a name below is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_core._lazy import lazy_exports

if TYPE_CHECKING:
    from ai_core.storage.conversation_store import SQLConversationStore
    from ai_core.storage.database import Database

__all__ = ["Database", "SQLConversationStore"]

_LAZY = {
    "Database": "ai_core.storage.database",
    "SQLConversationStore": "ai_core.storage.conversation_store",
}


__getattr__ = lazy_exports(__name__, _LAZY)
