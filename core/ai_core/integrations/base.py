"""Listeners that need the ``AI`` instance they serve: bound once per instance.

``register_listeners`` runs once per process, but a webhook sender or an
analytics writer needs one instance's settings and database. So a plugin may
register a :class:`~ai_core.events.listener.Listener` whose handler is a
:class:`BindableHandler`: each ``AI`` calls ``handler.bind(services)`` and
keeps the listener it returns (``None``: nothing configured, so nothing runs
and the emitters skip the events nobody wants). What ``bind`` built is closed
with the ``AI`` (:func:`close_bound`).

``AI_LISTENERS_DISABLED=webhooks,analytics`` turns listeners off by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ai_core.events.listener import Listener

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = ["BindableHandler", "BoundHandler", "LazyBindable", "bind_listeners", "close_bound", "disabled_listeners"]


class BindableHandler:
    """A hook-registered handler that makes the real one per ``AI`` instance."""

    def bind(self, services: Services) -> Listener | None:
        raise NotImplementedError

    def __call__(self, event: Any) -> None:  # never called: replaced by what bind returns
        raise RuntimeError(f"{type(self).__name__} must be bound to an AI instance first")


class LazyBindable(BindableHandler):
    """A :class:`BindableHandler` named by ``"module:Class"``, imported only for an ``AI``
    whose settings want it: an unconfigured listener costs no import (SMTP, SQL, ...)."""

    def __init__(self, target: str, wanted: Callable[[Services], bool]) -> None:
        self.target = target
        self.wanted = wanted

    def bind(self, services: Services) -> Listener | None:
        if not self.wanted(services):
            return None
        module, _, name = self.target.partition(":")
        handler: BindableHandler = getattr(importlib.import_module(module), name)()
        return handler.bind(services)


class BoundHandler:
    """What :meth:`BindableHandler.bind` returns as a handler: closed with its ``AI``."""

    drained_with_events = False
    """True: ``ai.events.drain()`` also waits for this handler's own pending work
    (``drain(timeout)``), which must be local and quick (the analytics refresh;
    not webhook retries, which may wait for minutes)."""

    def close(self, timeout: float | None = 10) -> None:
        """Finish or persist background work; called after the event queue drained."""


def disabled_listeners(services: Services) -> set[str]:
    text = services.settings.listeners_disabled or ""
    return {name.strip() for name in text.split(",") if name.strip()}


def bind_listeners(listeners: Iterable[Listener], services: Services) -> list[Listener]:
    """The listeners one ``AI`` runs: disabled ones dropped, bindable ones bound."""
    disabled = disabled_listeners(services)
    bound: list[Listener] = []
    for listener in listeners:
        if listener.name in disabled:
            continue
        if isinstance(listener.handler, BindableHandler):
            made = listener.handler.bind(services)
            if made is None:
                continue
            listener = made
        bound.append(listener)
    return bound


def close_bound(listeners: Iterable[Listener], timeout: float | None = 10) -> None:
    for listener in listeners:
        if isinstance(listener.handler, BoundHandler):
            try:
                listener.handler.close(timeout)
            except Exception:  # closing one must not keep the others open
                pass
