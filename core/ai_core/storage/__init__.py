"""SQL persistence: the database, the conversation store and the schema.

Import-light: SQLAlchemy loads only when a name below is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.storage.conversation_store import SQLConversationStore
    from ai_core.storage.database import Database

__all__ = ["Database", "SQLConversationStore"]

_LAZY = {
    "Database": "ai_core.storage.database",
    "SQLConversationStore": "ai_core.storage.conversation_store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ai_core.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
