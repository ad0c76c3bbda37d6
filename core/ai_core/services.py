"""The services one :class:`ai_core.AI` instance owns, handed to every layer.

Middleware, jobs and CLI commands reach settings, prices, events and storage
through this object instead of globals, so two ``AI`` instances (two tenants,
two databases, a test and the app) never share state by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.config import Settings
    from ai_core.costs import PriceBook
    from ai_core.events.dispatcher import EventDispatcher
    from ai_core.pipeline.store import ConversationStore
    from ai_core.plugins import PluginRegistry

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    registry: PluginRegistry
    prices: PriceBook
    events: EventDispatcher
    store: ConversationStore
    database: Any = None
    """The SQL :class:`ai_core.storage.Database`, or None when persistence is off."""
