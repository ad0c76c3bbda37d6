"""structlog loggers that can never log an API key or authorization header.

Redaction is a processor in the chain, not a convention at call sites: every
event dict passes through :func:`ai_core.redaction.redact_value` before it is
rendered, whatever a caller put in it. Output goes to the standard ``logging``
module under ``ai_core.*`` names, so the application's own logging setup (or
``AI_LOG_LEVEL`` via :func:`configure_logging`) decides where it ends up; as a
library we never call ``structlog.configure`` and so never change the host
application's structlog settings.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["configure_logging", "get_logger", "redact_processor"]


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

    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            redact_processor,
            structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def configure_logging(level: str | int = "WARNING") -> None:
    """For scripts and the CLI: show ai-core's log lines on stderr at ``level``."""
    logger = logging.getLogger("ai_core")
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
