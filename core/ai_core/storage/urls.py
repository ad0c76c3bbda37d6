"""Which database to use, and a URL form that is safe to show."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DEFAULT_DB_FILENAME", "default_sqlite_url", "display_url", "masked_url", "resolve_url"]

DEFAULT_DB_FILENAME = "ai-core.db"


def _data_dir(settings: Any) -> Path:
    data_dir = getattr(settings, "data_dir", None)
    if data_dir:
        return Path(data_dir)
    override = os.environ.get("AI_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("ai-core", appauthor=False))


def default_sqlite_url(settings: Any = None) -> str:
    """SQLite in the user's data directory (``AI_DATA_DIR`` overrides it)."""
    return f"sqlite:///{_data_dir(settings) / DEFAULT_DB_FILENAME}"


def resolve_url(url: str | None = None, settings: Any = None) -> URL:
    """``url``, else the settings' (``AI_DATABASE_URL``), else the default SQLite file.

    ``postgresql://`` and ``postgres://`` mean psycopg 3, the driver ai-core ships
    support for, so users need not know SQLAlchemy's driver suffixes.
    """
    raw = url or getattr(settings, "database_url", None) or os.environ.get("AI_DATABASE_URL")
    raw = raw or default_sqlite_url(settings)
    try:
        parsed = make_url(str(raw))
    except (ArgumentError, ValueError):
        from ai_core.errors import ConfigurationError

        raise ConfigurationError(
            f"database URL {masked_url(str(raw))!r} is not a URL: use sqlite:////absolute/path/ai-core.db or "
            "postgresql://user:password@host:5432/dbname (AI_DATABASE_URL, or --url)"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked_url(raw: str) -> str:
    """``raw`` (parsed or not) for a message, with whatever could be a password (``user:secret@``) masked."""
    scheme, sep, rest = raw.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return raw


def display_url(url: URL) -> str:
    """The URL with its password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)
