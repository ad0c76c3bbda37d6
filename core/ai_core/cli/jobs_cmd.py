"""``ai jobs``: run the maintenance jobs by name."""

from __future__ import annotations

from datetime import date
from typing import Literal, cast

import click

from ai_core.jobs import JOBS

_NAMES = tuple(JOBS)


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@click.group()
def jobs() -> None:
    """Run maintenance jobs (sync models, analytics, cleanup, stale budget holds)."""


@jobs.command("list")
def list_jobs() -> None:
    """The jobs and what each does."""
    for name, (_, description) in JOBS.items():
        click.echo(f"{name:<24}{description}")


@jobs.command()
@click.argument("name", type=click.Choice(_NAMES))
@click.option("--since", callback=_parse_date, metavar="YYYY-MM-DD", help="calculate-costs, generate-analytics.")
@click.option("--provider", help="sync-models: only this provider.")
@click.option("--remote", is_flag=True, help="sync-models: also ask each provider's API for its models.")
@click.option("--older-than-days", type=click.IntRange(min=0), help="cleanup-conversations: age (default 90).")
@click.option("--delete", "delete", is_flag=True, help="cleanup-conversations: delete instead of archiving.")
def run(
    name: str, since: date | None, provider: str | None, remote: bool, older_than_days: int | None, delete: bool
) -> None:
    """Run job NAME once."""
    _run(name, since=since, provider=provider, remote=remote, older_than_days=older_than_days, delete=delete)


def _run(
    name: str, *, since: date | None, provider: str | None, remote: bool, older_than_days: int | None, delete: bool
) -> None:
    if name in ("generate-analytics", "cleanup-conversations", "expire-holds"):
        from ai_core.cli.storage_support import open_database

        with open_database() as database:
            if name == "expire-holds":
                from ai_core.budgets.ledger import expire_stale_holds
                from ai_core.config import load_settings

                closed = expire_stale_holds(database, lease=load_settings().budget_hold_lease)
                click.echo(f"closed {closed} budget hold(s) whose lease ran out")
            elif name == "generate-analytics":
                from ai_core.jobs.generate_analytics import generate_analytics

                for table, count in generate_analytics(database, since=since).items():
                    click.echo(f"{table}: {count} rows")
            else:
                from ai_core.config import load_settings
                from ai_core.jobs.cleanup_conversations import cleanup_conversations

                settings = load_settings()
                days = (
                    older_than_days
                    if older_than_days is not None
                    else getattr(settings, "conversation_retention_days", None) or 90
                )
                # An unchecked setting: cleanup_conversations rejects any other value with a ValueError.
                action = cast(
                    Literal["archive", "delete"],
                    "delete" if delete else (getattr(settings, "cleanup_action", None) or "archive"),
                )
                count = cleanup_conversations(database, older_than_days=days, action=action)
                click.echo(f"{action}d {count} conversation(s) not updated for {days} days")
        return

    import anyio

    from ai_core.app import AI

    ai = AI(persistence=True)
    try:
        if name == "sync-models":
            from ai_core.jobs.sync_models import sync_models

            async def sync() -> list:
                return await sync_models(ai.services, provider=provider, remote=remote, providers=ai.providers)

            results = anyio.run(sync)
            for result in results:
                line = f"{result.provider}: {result.models} models, {result.prices} prices"
                if remote:
                    line += f", {result.remote_models} new from the provider's list"
                if result.error:
                    line += f" (model list failed: {result.error})"
                click.echo(line)
        else:
            from ai_core.jobs.calculate_costs import calculate_costs

            priced = calculate_costs(ai.services, since=since)
            click.echo(f"priced {priced} response(s) recorded with unknown cost")
    finally:
        ai.close()
