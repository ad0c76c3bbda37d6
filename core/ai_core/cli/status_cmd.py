"""``ai status``: providers, breakers, limits, caches, queue and database on one screen."""

from __future__ import annotations

import json
from typing import Any

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(as_json: bool) -> None:
    """Providers, circuit breakers, rate limits, caches, queue and database."""
    import anyio

    from ai_core.config import load_settings
    from ai_core.scale.status import collect_status

    settings = load_settings()
    found = anyio.run(collect_status, settings)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    for name, section in found.items():
        click.echo(click.style(name, bold=True))
        for line in _lines(name, section):
            click.echo(f"  {line}")


def _lines(name: str, section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"cannot be read: {section['error']}"]
    if name == "providers":
        return [
            f"{row['provider']:<16} {row.get('error') or 'key ' + row['key']:<12} {row.get('base_url') or ''}"
            for row in section["providers"]
        ] or ["none installed"]
    if name == "breakers":
        if not section.get("shared"):
            return [section["note"]]
        lines = [f"shared through {section['redis']}"]
        for provider, state in section["breakers"].items():
            extra = f" for {state['open_for']}s" if state["state"] == "open" else ""
            lines.append(f"{provider:<16} {state['state']}{extra} ({state['failures']} recent failures)")
        return lines
    if name == "limits":
        lines = [f"store: {section['store']}; a limited call waits at most {section['wait']:g}s"]
        if not section["rules"]:
            lines.append("no rate limits configured (rate_limits in the config file, AI_RATE_LIMITS)")
        for rule in section["rules"]:
            amounts = ", ".join(
                f"{rule[key]} {label}/min"
                for key, label in (("requests_per_minute", "requests"), ("tokens_per_minute", "tokens"))
                if key in rule
            )
            lines.append(f"{rule['scope']} {rule.get('name', '(each)')}: {amounts}")
        for row in section.get("now", []):
            lines.append(f"now: {row['limit']}: {row['remaining']} left")
        return lines
    if name == "queue":
        from ai_core.queue.status import format_queue_status

        return [line.removeprefix("  ") for line in format_queue_status(section)]
    return [f"{key}: {value}" for key, value in section.items()]
