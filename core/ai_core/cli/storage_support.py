"""What the storage commands share: opening the configured database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ai_core.storage.database import Database

__all__ = ["open_database"]


def open_database(url: str | None = None, *, migrate: bool | None = None) -> Database:
    """The database ``AI_DATABASE_URL`` names (or the default SQLite file), as a click error if it cannot open."""
    from sqlalchemy.exc import SQLAlchemyError

    from ai_core.config import load_settings
    from ai_core.errors import AIError
    from ai_core.redaction import redact
    from ai_core.storage.database import Database

    try:
        return Database.open(url, settings=load_settings(), migrate=migrate)
    except AIError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise click.ClickException(redact(f"cannot open the database: {reason}")) from None
