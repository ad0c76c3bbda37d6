"""``ai cost provider/model``: price a call without making it.

Counting follows OpenAI's ``prompt_tokens``: ``--input-tokens`` counts every
prompt token, cached ones included, and ``--cached-tokens`` says how many of
those were cache reads; ``--reasoning-tokens`` are part of
``--output-tokens``. The price is the row in force on ``--at`` (today by
default); plugins' cost hooks answer first, as for real calls.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, time
from typing import Any

import click


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


_COUNT = click.IntRange(min=0)


@click.command()
@click.argument("model")
@click.option("--input-tokens", type=_COUNT, required=True, help="All prompt tokens, cached included.")
@click.option("--output-tokens", type=_COUNT, required=True, help="All generated tokens, reasoning included.")
@click.option("--cached-tokens", type=_COUNT, default=0, help="How many input tokens were cache reads.")
@click.option("--reasoning-tokens", type=_COUNT, default=0, help="How many output tokens were reasoning.")
@click.option("--at", "at", callback=_parse_date, metavar="YYYY-MM-DD", help="Price in force on this day (today).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON; money as decimal strings.")
def cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int,
    reasoning_tokens: int,
    at: date,
    as_json: bool,
) -> None:
    """Price a call of MODEL (provider/model) without making it."""
    provider, _, name = model.partition("/")
    if not provider or not name:
        raise click.BadParameter(f"{model!r} is not provider/model (e.g. openai/gpt-4o-mini)", param_hint="MODEL")
    if cached_tokens > input_tokens:
        raise click.BadParameter(
            "cannot exceed --input-tokens (cached tokens are part of the input)", param_hint="--cached-tokens"
        )
    if reasoning_tokens > output_tokens:
        raise click.BadParameter(
            "cannot exceed --output-tokens (reasoning tokens are part of the output)", param_hint="--reasoning-tokens"
        )

    from ai_core.costs import PriceBook
    from ai_core.plugins import default_registry
    from ai_core.storage.browse import money_text
    from ai_core.types import TokenUsage

    registry = default_registry()
    book = PriceBook(registry.prices())
    _add_stored_prices(book)
    price = book.price_at(provider, name, at)
    usage = TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_tokens,
        reasoning_tokens=reasoning_tokens,
    )
    priced_at = datetime.combine(at, time(12), tzinfo=UTC)
    result: Any = registry.hook.calculate_cost(
        provider=provider, model=name, usage=usage, priced_at=priced_at, price=price
    )
    if result is None or result.total is None:
        history = book.history(provider, name)
        if history:
            hint = f"its first price is in force from {history[0].effective_from.isoformat()}"
        else:
            known = sorted({f"{p.provider}/{p.model}" for p in book.all() if p.provider == provider})
            hint = f"priced models of {provider!r}: {', '.join(known)}" if known else f"no prices for {provider!r}"
        raise click.ClickException(f"unknown model {model!r}: no price known on {at.isoformat()} ({hint})")

    parts = {
        "input": money_text(result.input),
        "cached_input": money_text(result.cached_input),
        "output": money_text(result.output),
        "reasoning": money_text(result.reasoning),
    }
    if as_json:
        payload = {
            "model": model,
            "provider": provider,
            "at": at.isoformat(),
            "input_tokens": input_tokens,
            "cached_tokens": cached_tokens,
            "output_tokens": output_tokens,
            "reasoning_tokens": reasoning_tokens,
            "total_cost": money_text(result.total),
            "currency": result.currency,
            "parts": parts,
            "priced_by": result.priced_by,
            "price": price.model_dump(mode="json") if price is not None else None,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"{model} on {at.isoformat()}: {money_text(result.total)} {result.currency}")
    for label, value in parts.items():
        click.echo(f"  {label:<13}{value}")
    if price is not None:
        click.echo(
            f"  price row {price.row_label} ({price.provenance}): "
            f"input {price.input_per_mtok}/M, output {price.output_per_mtok}/M"
            + (f", cached {price.cached_input_per_mtok}/M" if price.cached_input_per_mtok is not None else "")
        )


def _add_stored_prices(book: Any) -> None:
    """Prices saved by ``ai models sync`` count too, if a database already exists."""
    from ai_core.config import load_settings
    from ai_core.storage.urls import resolve_url

    settings = load_settings()
    url = resolve_url(None, settings)
    if url.get_backend_name() == "sqlite" and not (url.database and os.path.exists(url.database)):
        return  # never create a database just to price a call
    try:
        from ai_core.storage.database import Database

        with Database.open(settings=settings) as database:
            database.load_prices(book)
    except Exception as exc:  # the plugins' tables still answer; -v says why the stored ones did not
        from ai_core.logging import get_logger

        get_logger("ai_core.cli").info("stored_prices_skipped", error=f"{type(exc).__name__}: {exc}")
