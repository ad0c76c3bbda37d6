"""What ``register_listeners`` registers: an event type filter and a handler."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ai_core.events.types import Event

__all__ = ["Listener"]


@dataclass(frozen=True)
class Listener:
    """Call ``handler(event)`` for every event that is an instance of ``events``.

    ``handler`` may be sync (run in a worker thread, off the event loop) or
    async (awaited in the dispatcher's loop, bounded by ``timeout`` seconds).
    """

    events: type[Event] | tuple[type[Event], ...]
    handler: Callable[[Any], Any]
    name: str = ""
    timeout: float = 30.0
    is_async: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "is_async",
            inspect.iscoroutinefunction(self.handler) or _async_callable_object(self.handler),
        )
        if not self.name:
            object.__setattr__(self, "name", getattr(self.handler, "__qualname__", repr(self.handler)))

    def accepts(self, event: Event) -> bool:
        return isinstance(event, self.events)


def _async_callable_object(handler: Any) -> bool:
    """An instance whose class defines ``async def __call__``."""
    method = vars(type(handler)).get("__call__")
    return method is not None and inspect.iscoroutinefunction(method)
