"""``ai usage``: requests, tokens and cost from the message ledger."""

from __future__ import annotations

import json
from datetime import date

import click

GROUPINGS = ("provider", "model", "user", "day", "tag", "tenant")
_BAR_WIDTH = 40


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


@click.group(invoke_without_command=True)
@click.option("--since", callback=_parse_date, metavar="YYYY-MM-DD", help="Only usage on or after this day.")
@click.option("--by", "by", type=click.Choice(GROUPINGS), default="provider", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (costs as decimal strings).")
@click.pass_context
def usage(ctx: click.Context, since: date | None, by: str, as_json: bool) -> None:
    """Requests, tokens and cost by provider, model, user, day, tag or tenant."""
    if ctx.invoked_subcommand is not None:
        return
    from ai_core.cli.storage_support import open_database
    from ai_core.storage.analytics import usage_report
    from ai_core.storage.browse import money_text

    with open_database() as database:
        rows = usage_report(database, by=by, since=since)  # type: ignore[arg-type]
    total_cost = sum((r["cost"] for r in rows), start=0)
    totals = {
        "requests": sum(r["requests"] for r in rows),
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cost": money_text(total_cost) if rows else "0",  # type: ignore[arg-type]
        "unknown_cost_requests": sum(r["unknown_cost_requests"] for r in rows),
    }
    if as_json:
        payload = {
            "by": by,
            "since": since.isoformat() if since else None,
            "rows": [{**r, "cost": money_text(r["cost"])} for r in rows],
            "total": totals,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    _print_table(rows, by, totals)


def _print_table(rows: list[dict], by: str, totals: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from ai_core.storage.browse import money_text

    console = Console()
    if not rows:
        console.print("No usage recorded yet.")
        return
    table = Table(title=f"Usage by {by}", show_footer=True)
    table.add_column(by, footer="total")
    table.add_column("requests", justify="right", footer=str(totals["requests"]))
    table.add_column("input tokens", justify="right", footer=str(totals["input_tokens"]))
    table.add_column("output tokens", justify="right", footer=str(totals["output_tokens"]))
    table.add_column("cost", justify="right", footer=f"{totals['cost']} {rows[0]['currency']}")
    table.add_column("unpriced", justify="right", footer=str(totals["unknown_cost_requests"]))
    top = max((r["cost"] for r in rows), default=0) or 1
    for row in rows:
        cells = [
            str(row[by] if row[by] is not None else "(none)"),
            str(row["requests"]),
            str(row["input_tokens"]),
            str(row["output_tokens"]),
            f"{money_text(row['cost'])} {row['currency']}",
            str(row["unknown_cost_requests"]),
        ]
        table.add_row(*cells)
    console.print(table)
    if by == "day":
        console.print("\n[bold]Cost per day[/]")
        for row in rows:
            bar = "█" * max(1 if row["cost"] else 0, round(_BAR_WIDTH * row["cost"] / top))
            console.print(f"{row['day']} [green]{bar:<{_BAR_WIDTH}}[/] {money_text(row['cost'])} {row['currency']}")
    if totals["unknown_cost_requests"]:
        console.print(
            f"[yellow]{totals['unknown_cost_requests']} request(s) had no known price: their cost is unknown, "
            "not zero (`ai jobs run calculate-costs` prices them once a price exists).[/]"
        )


@usage.command("rebuild")
@click.option("--since", callback=_parse_date, metavar="YYYY-MM-DD", help="Rebuild only these days (default: all).")
def rebuild(since: date | None) -> None:
    """Recompute analytics, cost tracking and model performance from the message ledger."""
    from ai_core.cli.storage_support import open_database
    from ai_core.storage.analytics import rebuild_analytics

    with open_database() as database:
        counts = rebuild_analytics(database, since=since)
    for table, count in counts.items():
        click.echo(f"{table}: {count} rows")
