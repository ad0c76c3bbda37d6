"""What the storage commands share: opening the configured database."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["open_database"]


def open_database(url: str | None = None, *, migrate: bool | None = None) -> Database:
    """The database ``url``, ``AI_DATABASE_URL`` or the config names (or the default SQLite file).

    Anything that stops it from opening is a one-line ``StorageError`` or
    ``ConfigurationError``, which the CLI's one error path reports.
    """
    from ai_core.config import load_settings
    from ai_core.storage.database import Database

    return Database.open(url, settings=load_settings(), migrate=migrate)
