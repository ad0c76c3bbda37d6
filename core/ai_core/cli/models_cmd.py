"""``ai models``: the models installed plugins declare, offline, with today's prices."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ai_core.types import ModelInfo, ModelPrice


@click.group(invoke_without_command=True)
@click.option("-p", "--provider", help="Only this provider's models.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def models(ctx: click.Context, provider: str | None, as_json: bool) -> None:
    """List models the installed plugins declare, with their current prices.

    Offline: nothing is asked of any provider, except that `--provider` naming
    a local model server (ollama) lists what that server has pulled, with each
    model's own capabilities. `ai models sync` asks providers' APIs and stores
    what they serve.
    """
    if ctx.invoked_subcommand is not None:
        return
    from ai_core.costs import PriceBook
    from ai_core.errors import AIError
    from ai_core.plugins import default_registry

    registry = default_registry()
    if provider is not None and provider not in registry.providers():
        known = ", ".join(sorted(registry.providers())) or "none"
        raise click.UsageError(f"no provider named {provider!r} is installed (installed: {known})")
    book = PriceBook(registry.prices())
    declared, asked = sorted(registry.models(), key=lambda m: (m.provider, m.id)), False
    if provider is not None and serves_local_models(registry.providers()[provider]):
        try:  # a local model server (Ollama): what it has pulled, asked of it
            declared, asked = local_models(provider), True
        except AIError as exc:
            click.echo(f"warning: {exc}; showing the models the plugin declares", err=True)
    rows = [
        (model, book.price_at(model.provider, model.id))
        for model in declared
        if provider is None or model.provider == provider
    ]
    if as_json:
        click.echo(json.dumps([_as_json(model, price) for model, price in rows], indent=2))
        return
    if not rows:
        click.echo("No models.")
        return
    if sys.stdout.isatty():
        _print_table(rows, asked)
    else:
        for model, price in rows:
            click.echo("  ".join(_cells(model, price, asked)))


def _as_json(model: ModelInfo, price: ModelPrice | None) -> dict[str, Any]:
    data = model.model_dump(mode="json")
    data["qualified_id"] = model.qualified_id
    data["status"] = model.status()
    data["price"] = price.model_dump(mode="json") if price else None
    data["priced_by"] = price.priced_by if price else None
    return data


def _cells(model: ModelInfo, price: ModelPrice | None, asked: bool = False) -> list[str]:
    """``asked``: the model comes from a local server's own list, with its own capabilities."""
    context = f"{model.context_window:,} ctx" if model.context_window else "- ctx"
    if price is None:
        cost = "unpriced"
    else:
        cost = f"{price.currency} {price.input_per_mtok} in / {price.output_per_mtok} out per Mtok"
    flags = [flag for flag, on in (("reasoning", model.reasoning), (_status(model), model.status() != "active")) if on]
    if asked and model.capabilities is not None:
        flags += [name for name in ("tools", "vision") if getattr(model.capabilities, name)]
    return [model.qualified_id, model.name or "", context, cost, *flags]


def _status(model: ModelInfo) -> str:
    """``deprecated (shuts down 2026-10-23; use o3)``, ``shut down 2026-10-23 ...``, ``retired (served by x)``."""
    status = model.status()
    notes = []
    if status == "retired":
        notes.append(f"served by {model.served_by}")
    elif model.shutdown_on is not None:
        notes.append(f"{'since' if status == 'shut down' else 'shuts down'} {model.shutdown_on.isoformat()}")
    if model.replacement and status != "retired":
        notes.append(f"use {model.replacement}")
    return status + (f" ({'; '.join(notes)})" if notes else "")


def _print_table(rows: list[tuple[ModelInfo, ModelPrice | None]], asked: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Models")
    for column in ("Model", "Name", "Context", "Price", "Notes"):
        table.add_column(column)
    for model, price in rows:
        cells = _cells(model, price, asked)
        table.add_row(*cells[:4], " ".join(cells[4:]))
    Console().print(table)


@models.command()
@click.option("-p", "--provider", help="Sync only this provider.")
@click.option("--remote", is_flag=True, help="Also ask each provider's API which models it serves (needs its key).")
@click.option("--prices", is_flag=True, help="Refresh prices from the installed genai-prices and show what changed.")
def sync(provider: str | None, remote: bool, prices: bool) -> None:
    """Store the installed plugins' models and price history in the database.

    The same job as `ai jobs run sync-models`; with --remote, providers' own model
    lists are added (a provider that cannot be reached is reported, not fatal).
    With --prices, the installed genai-prices (`pip install 'ai-core[prices]'`)
    is compared with the known prices: new models, new dated rows and changed
    prices are stored and listed; run again, it changes nothing.
    """
    import anyio

    if prices:
        _sync_prices(provider)
        return

    from ai_core.app import AI
    from ai_core.jobs.sync_models import ProviderSync, sync_models

    ai = AI(persistence=True)
    try:

        async def run() -> list[ProviderSync]:
            return await sync_models(ai.services, provider=provider, remote=remote, providers=ai.providers)

        for result in anyio.run(run):
            line = f"{result.provider}: {result.models} models, {result.prices} prices"
            if remote:
                line += f", {result.remote_models} from the provider's list"
            if result.error:
                line += f" (model list failed: {result.error})"
            click.echo(line)
    finally:
        ai.close()


def _sync_prices(provider: str | None) -> None:
    import anyio

    from ai_core.app import AI
    from ai_core.costs.genai_source import installed_version
    from ai_core.jobs.sync_prices import PriceChange, sync_prices

    ai = AI(persistence=True)
    try:

        async def run() -> list[PriceChange]:
            return await sync_prices(ai.services, provider=provider)

        changes = anyio.run(run)
        for change in changes:
            click.echo(change.describe())
        click.echo(f"genai-prices {installed_version()}: {len(changes) or 'no'} price rows new or changed")
    finally:
        ai.close()


@models.command()
@click.argument("model")
def pull(model: str) -> None:
    """Download MODEL (provider/name) to a provider that serves local models,
    with a progress bar: `ai models pull ollama/llama3.2`.

    The provider's driver does the work (an async ``pull(name)`` yielding
    progress dicts with ``status`` and, while bytes move, ``digest``, ``total``
    and ``completed``); a provider whose driver has none is refused.
    """
    import anyio

    from ai_core.app import AI
    from ai_core.pipeline.providers import split_model

    provider, name = split_model(model)
    ai = AI(persistence=False)
    try:
        if not callable(getattr(ai.providers.spec(provider).load_factory(), "pull", None)):
            raise click.UsageError(f"provider {provider!r} cannot pull models (only local servers such as ollama)")

        async def run() -> None:
            driver = await ai.providers.driver(provider)
            try:
                await _show_pull(driver.pull(name))  # type: ignore[attr-defined]
            finally:
                await driver.aclose()

        anyio.run(run)
        click.echo(f"pulled {provider}/{name}")
    finally:
        ai.close()


async def _show_pull(statuses: Any) -> None:
    """A bar per layer (bytes, percentage, rate); other statuses as lines."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    bars: dict[str, TaskID] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
               TransferSpeedColumn())  # fmt: skip
    with Progress(*columns) as progress:
        async for status in statuses:
            digest, total = status.get("digest"), status.get("total")
            if digest and isinstance(total, int) and total > 0:
                if digest not in bars:
                    bars[digest] = progress.add_task(str(status.get("status", digest)), total=total)
                progress.update(bars[digest], completed=int(status.get("completed") or 0))
            elif status.get("status"):
                progress.console.print(str(status["status"]))


def serves_local_models(spec: Any) -> bool:
    """A provider whose driver can ``pull`` serves models from the user's own machine (Ollama)."""
    from ai_core.errors import AIError

    try:
        return callable(getattr(spec.load_factory(), "pull", None))
    except AIError:
        return False


def local_models(provider: str, timeout: float = 5.0) -> list[ModelInfo]:
    """What a local model server has now, with each model's own capabilities (its
    driver's ``list_models``), waiting at most ``timeout`` seconds for each answer."""
    import anyio

    from ai_core.app import AI

    ai = AI(persistence=False, providers={provider: {"timeout": timeout, "retry_attempts": 0}})
    try:

        async def run() -> list[ModelInfo]:
            driver = await ai.providers.driver(provider)
            try:
                return await driver.list_models()
            finally:
                await driver.aclose()  # on this loop, which ends here

        return anyio.run(run)
    finally:
        ai.close()
