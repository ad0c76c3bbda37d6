"""``ai plugins``: what is installed, what each plugin provides, and what failed."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ai_core.plugins import LoadError, PluginInfo, PluginProblem


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any plugin failed to load.")
@click.option(
    "--check",
    is_flag=True,
    help="Validate catalogues, capabilities and middleware without calling anything: "
    "one line per problem, exit status 1 if any.",
)
def plugins(names: tuple[str, ...], as_json: bool, strict: bool, check: bool) -> None:
    """List installed plugins (or only NAMES): distribution, version, entry point,
    hooks, and what each provides (providers with capabilities, models, MCP
    servers, middleware, listeners, cost calculators, commands), then any plugin
    that failed to load. Providers made from the config file
    ([providers.NAME] with a dialect) are listed as plugin config:NAME.

    AI_CORE_PLUGINS=openai,fake limits which plugins load; AI_CORE_PLUGINS=none
    loads only core's own.
    """
    from ai_core.plugins import default_registry

    registry = default_registry()
    errors = list(registry.load_errors)
    known = set(registry.plugin_names()) | {error.name for error in errors}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.UsageError(f"no plugin named {', '.join(unknown)}; loaded: {', '.join(sorted(known))}")
    if check:  # before the inventory, which a broken registration could upset
        _check(registry.check(list(names) or None), len(set(names) or known), as_json)
        return
    infos = [info for info in registry.inventory() if not names or info.name in names]
    errors = [error for error in errors if not names or error.name in names]
    if as_json:
        payload = {
            "plugins": [info.model_dump(mode="json") for info in infos],
            "load_errors": [error.model_dump(mode="json") for error in errors],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        local = _local_model_lines(registry, infos)
        if sys.stdout.isatty():
            _print_table(infos, errors, local)
        else:
            click.echo(render_plain(infos, errors, local), nl=False)
    if strict and errors:
        sys.exit(1)


def _check(problems: list[PluginProblem], checked: int, as_json: bool) -> None:
    """One line per problem on stdout, exit status 1 if any."""
    if as_json:
        click.echo(json.dumps({"problems": [problem.model_dump(mode="json") for problem in problems]}, indent=2))
    elif problems:
        for problem in problems:
            click.echo(" ".join(str(problem).split()))
    else:
        click.echo(f"{checked} plugin{'s' if checked != 1 else ''} checked: no problems")
    if problems:
        sys.exit(1)


def _local_model_lines(registry: Any, infos: list[PluginInfo]) -> dict[str, list[str]]:
    """For a provider serving local models (Ollama): each pulled model with its own
    capabilities, asked of the server (briefly; an unreachable one says so)."""
    from ai_core.cli.models_cmd import local_models, serves_local_models
    from ai_core.errors import AIError

    specs = registry.providers()
    lines: dict[str, list[str]] = {}
    for provider in (p.name for info in infos for p in info.providers):
        if provider not in specs or not serves_local_models(specs[provider]):
            continue
        try:
            found = local_models(provider, timeout=3.0)
        except AIError as exc:
            lines[provider] = [f"local models: none listed ({exc})"]
            continue
        lines[provider] = [f"local model {m.id} ({', '.join(_capabilities(m)) or 'text only'})" for m in found]
    return lines


def _capabilities(model: Any) -> list[str]:
    caps = model.capabilities
    return [
        name for name in ("tools", "vision", "json_schema", "reasoning") if caps is not None and getattr(caps, name)
    ]


def _provides(info: PluginInfo, local: dict[str, list[str]] | None = None) -> list[str]:
    lines = [f"provider {p.name} ({', '.join(p.capabilities) or 'no capabilities'})" for p in info.providers]
    for p in info.providers:
        lines += (local or {}).get(p.name, [])
    if info.models:
        lines.append(f"models: {', '.join(info.models)}")
    if info.priced_models:
        lines.append(f"prices: {', '.join(info.priced_models)}")
    lines += [f"MCP server {s.name} [{s.transport}] tools: {', '.join(s.tools) or '-'}" for s in info.mcp_servers]
    lines += [f"middleware {m.name} (order {m.order})" for m in info.middleware]
    for lst in info.listeners:
        listens = "(per AI instance, as its settings say)" if lst.per_instance else f"on {', '.join(lst.events)}"
        lines.append(f"listener {lst.name} {listens}")
    lines += [f"cost calculator {c}" for c in info.cost_calculators]
    if info.cli_commands:
        lines.append(f"commands: {', '.join(info.cli_commands)}")
    return lines


def _dist(name: str | None, version: str | None) -> str:
    return f"{name} {version}" if name else "(no distribution)"


def render_plain(infos: list[PluginInfo], errors: list[LoadError], local: dict[str, list[str]] | None = None) -> str:
    """The plain-text listing, for pipes and logs."""
    out: list[str] = []
    for info in infos:
        out.append(f"{info.name}  {_dist(info.distribution, info.version)}  {info.module or ''}".rstrip())
        out.append(f"  hooks: {', '.join(info.hooks) or '-'}")
        out += [f"  {line}" for line in _provides(info, local)]
    if errors:
        out.append("")
        out.append(f"Load errors ({len(errors)}):")
        out += [f"  {e.name}  {_dist(e.distribution, e.version)}  [{e.phase}] {e.error}" for e in errors]
    return "\n".join(out) + "\n"


def _print_table(infos: list[PluginInfo], errors: list[LoadError], local: dict[str, list[str]] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="ai-core plugins", show_lines=True)
    table.add_column("Plugin", style="bold")
    table.add_column("Distribution")
    table.add_column("Hooks")
    table.add_column("Provides")
    for info in infos:
        table.add_row(
            info.name,
            f"{_dist(info.distribution, info.version)}\n[dim]{info.module or ''}[/dim]",
            "\n".join(info.hooks),
            "\n".join(_provides(info, local)) or "-",
        )
    console.print(table)
    if errors:
        failed = Table(title="Load errors", title_style="bold red")
        for column in ("Plugin", "Distribution", "Phase", "Error"):
            failed.add_column(column)
        for e in errors:
            failed.add_row(e.name, _dist(e.distribution, e.version), e.phase, e.error)
        console.print(failed)
