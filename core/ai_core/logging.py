"""structlog loggers that can never log an API key or authorization header.

Redaction is a processor in the chain, not a convention at call sites: every
event dict passes through :func:`ai_core.redaction.redact_value` before it is
rendered, whatever a caller put in it. Output goes to the standard ``logging``
module under ``ai_core.*`` names, so the application's own logging setup
decides where it ends up; as a library we never call ``structlog.configure``
and so never change the host application's structlog settings.

Two ways to see ai-core's log lines on stderr without setting up logging:
``AI_LOG_LEVEL=debug`` in the environment (applied the first time ai-core logs
anything, unless the application already configured the ``ai_core`` logger), or
:func:`configure_logging` (which the ``ai`` command calls for ``--log-level``
and ``-v``). The handler they install redacts the whole formatted line, the
traceback included, so even a third-party logger routed through it cannot print
a known key.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["LEVEL_NAMES", "configure_logging", "get_logger", "parse_level", "redact_processor"]

LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
_LIBRARY_LOGGERS = ("httpx", "httpcore")
"""Third-party loggers shown with ``libraries=True`` (``ai -vvv``): one line per HTTP request, connection events."""


def redact_processor(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    from ai_core.redaction import redact_value

    return redact_value(event_dict)  # type: ignore[no-any-return]


class _LazyLogger:
    """Builds the structlog logger on first use: importing structlog (and the
    rich tracebacks it pulls in) costs more than half of ``ai plugins``'
    start-up, and most processes never log anything."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            self._logger = _build(self._name)
        return getattr(self._logger, attribute)


def get_logger(name: str) -> Any:
    """A structlog logger writing redacted key=value lines to ``logging.getLogger(name)``."""
    return _LazyLogger(name)


def _build(name: str) -> Any:
    import structlog

    _apply_environment_level()
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,  # below the level: no redaction, no rendering
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            redact_processor,
            structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def parse_level(level: str | int, source: str = "log level") -> int:
    """``"debug"``, ``"INFO"``, ``"warn"``, ``10``... as a ``logging`` level; a
    :class:`~ai_core.errors.ConfigurationError` naming ``source`` for anything else."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    text = str(level).strip().lower()
    if text == "warn":
        text = "warning"
    if text in LEVEL_NAMES:
        return int(getattr(logging, text.upper()))
    if text.isdigit():
        return int(text)
    from ai_core.errors import ConfigurationError

    raise ConfigurationError(f"{source} {level!r} is not a log level: use one of {', '.join(LEVEL_NAMES)}")


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from ai_core.redaction import redact

        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(_RedactingFormatter("%(levelname)s %(name)s %(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _our_handler(logger: logging.Logger) -> _StderrHandler | None:
    return next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)


def configure_logging(level: str | int = "WARNING", *, libraries: bool = False) -> Callable[[], None]:
    """For scripts and the CLI: show ai-core's log lines on stderr at ``level``.

    ``libraries=True`` also shows the HTTP libraries' own lines (httpx,
    httpcore) at that level. Calling it again changes the level; it never adds
    a second handler. Raises ConfigurationError for a level it does not know.
    Returns a function that puts the loggers back as they were (the CLI calls
    it when a command ends, so running commands in-process leaves no trace).
    """
    from ai_core.redaction import remember_environment_secrets

    numeric = parse_level(level)
    remember_environment_secrets()  # keys in the environment are blanked even before anything uses them
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate)
        for name in ("ai_core", *_LIBRARY_LOGGERS)
        for logger in [logging.getLogger(name)]
    }

    def undo() -> None:
        for name, (old_level, handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(old_level)
            logger.handlers[:] = handlers
            logger.propagate = propagate

    for name in ("ai_core", *_LIBRARY_LOGGERS):
        logger = logging.getLogger(name)
        handler = _our_handler(logger)
        if name != "ai_core" and not libraries:
            if handler is not None:
                logger.removeHandler(handler)
                logger.setLevel(logging.NOTSET)
            continue
        logger.setLevel(numeric)
        if handler is None:
            logger.addHandler(_StderrHandler())
        if name != "ai_core":
            logger.propagate = False  # printed once, by our handler
    return undo


def _apply_environment_level() -> None:
    """Honour ``AI_LOG_LEVEL`` once, unless the application configured the ``ai_core`` logger itself."""
    value = os.environ.get("AI_LOG_LEVEL")
    logger = logging.getLogger("ai_core")
    if not value or logger.handlers or logger.level != logging.NOTSET:
        return
    try:
        numeric = parse_level(value, "AI_LOG_LEVEL")
    except Exception:  # an invalid value is reported by load_settings, never by a log call
        return
    if logging.getLogger().handlers:  # the application logs somewhere already: only open the level
        from ai_core.redaction import remember_environment_secrets

        remember_environment_secrets()
        logger.setLevel(numeric)
    else:
        configure_logging(numeric)
