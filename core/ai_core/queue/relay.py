"""Hand events to the task queue instead of the process's own listeners.

The :class:`~ai_core.events.EventDispatcher` calls :meth:`QueueRelay.send`
from its background thread, so the caller of a conversation never waits for
Redis. Only listeners registered by plugins are queued: a worker finds them by
the same key in its own plugin registry. Listeners given to one ``AI`` object
(``AI(listeners=...)``, ``@ai.on``) are objects of that process and stay there.

If Redis cannot take a message, the listeners of that event are returned to the
dispatcher, which runs them in process: an unreachable queue delays nothing and
loses no event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ai_core.events.listener import Listener
from ai_core.events.types import Event
from ai_core.logging import get_logger

if TYPE_CHECKING:
    from ai_core.config import Settings
    from ai_core.services import Services

__all__ = ["QueueRelay", "listener_keys", "split_queued"]

log = get_logger("ai_core.queue")


def listener_keys(listeners: Iterable[Listener]) -> dict[str, Listener]:
    """Each listener under a key every process derives alike: ``module:name`` (``#2`` on a repeat)."""
    keys: dict[str, Listener] = {}
    for listener in listeners:
        base = f"{getattr(listener.handler, '__module__', None) or '?'}:{listener.name}"
        key, n = base, 1
        while key in keys:
            n += 1
            key = f"{base}#{n}"
        keys[key] = listener
    return keys


def split_queued(services: Services, listeners: list[Listener]) -> list[Listener]:
    """Give the dispatcher of ``services`` a relay for the listeners ``[queue] listeners`` names
    (all but ``[queue] local_listeners`` by default); return the ones that stay in process."""
    queue = services.settings.queue
    wanted = set(queue.listeners)
    local = set(queue.local_listeners)
    queued = [item for item in listeners if ("*" in wanted or item.name in wanted) and item.name not in local]
    services.events.relay = QueueRelay(services.settings, queued)
    return [item for item in listeners if not any(item is other for other in queued)]


class QueueRelay:
    """Sends each event, once per interested listener, as a Dramatiq message."""

    def __init__(self, settings: Settings, listeners: Iterable[Listener]) -> None:
        self._settings = settings
        self._keys = listener_keys(listeners)
        self._wants: dict[type[Event], bool] = {}
        self._broker: Any = None
        self.sent = 0

    @property
    def listeners(self) -> list[Listener]:
        return list(self._keys.values())

    def wants(self, event_type: type[Event]) -> bool:
        answer = self._wants.get(event_type)
        if answer is None:
            answer = self._wants[event_type] = any(issubclass(event_type, item.events) for item in self._keys.values())
        return answer

    def send(self, event: Event) -> list[Listener]:
        """Queue ``event`` for each listener that takes it; return those it could not queue."""
        targets = [(key, listener) for key, listener in self._keys.items() if listener.accepts(event)]
        if not targets:
            return []
        n = 0
        try:
            from ai_core.queue.broker import make_broker, send_event

            if self._broker is None:
                self._broker = make_broker(self._settings)
            payload = event.model_dump_json()
            retries = self._settings.queue.retries
            for key, _listener in targets:
                send_event(self._broker, key, event.name, payload, retries=retries)
                self.sent += 1
                n += 1
        except Exception as exc:  # Redis down, Dramatiq missing: run the rest here rather than lose them
            error = f"{type(exc).__name__}: {exc}"
            log.warning("event_not_queued", event_name=event.name, error=error, listeners=len(targets) - n)
            return [listener for _key, listener in targets[n:]]
        return []
