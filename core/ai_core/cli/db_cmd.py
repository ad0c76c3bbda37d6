"""``ai db``: schema migrations (automatic for SQLite, explicit for a server)."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Database migrations (`ai db upgrade`)."""


@db.command()
@click.option("--url", help="Database URL (default: AI_DATABASE_URL, else the SQLite file in the data directory).")
@click.option("--revision", default="head", show_default=True)
def upgrade(url: str | None, revision: str) -> None:
    """Bring the database schema up to date."""
    from ai_core.cli.storage_support import open_database
    from ai_core.storage import migrate

    with open_database(url, migrate=False) as database:
        before = migrate.current(database)
        after = migrate.upgrade(database, revision)
        click.echo(f"{database.display_url}: {before or 'empty'} -> {after}")


@db.command()
@click.option("--url", help="Database URL (default: AI_DATABASE_URL, else the SQLite file in the data directory).")
def current(url: str | None) -> None:
    """Show the schema revision of the database and the one this ai-core needs."""
    from ai_core.cli.storage_support import open_database
    from ai_core.migrations import HEAD
    from ai_core.storage import migrate

    with open_database(url, migrate=False) as database:
        at = migrate.current(database)
        migrate.refuse_unknown(database, at)  # a newer ai-core's schema: upgrading the database cannot help
        state = "up to date" if at == HEAD else "needs `ai db upgrade`"
        click.echo(f"{database.display_url}: {at or 'empty'} (this ai-core needs {HEAD}: {state})")
