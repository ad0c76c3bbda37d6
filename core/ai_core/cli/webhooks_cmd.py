"""``ai webhooks``: the configured endpoints, their deliveries, a test send and a replay."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ai_core.integrations.settings import WebhookEndpoint


def _endpoints() -> dict[str, WebhookEndpoint]:
    from ai_core.config import load_settings

    return {endpoint.name: endpoint for endpoint in load_settings().webhooks}


def _endpoint(name: str) -> WebhookEndpoint:
    from ai_core.errors import ConfigurationError

    endpoints = _endpoints()
    if name not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none; add [[webhooks]] to the config file"
        raise ConfigurationError(f"no webhook endpoint named {name!r} (configured: {known})")
    return endpoints[name]


def _shown_url(url: str) -> str:
    """The URL without its query or credentials: those are often secrets."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?..." if parts.query else "")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@click.group()
def webhooks() -> None:
    """Webhook endpoints ([[webhooks]] in the config file) and their deliveries."""


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_endpoints(as_json: bool) -> None:
    """The configured endpoints (secrets never shown)."""
    rows: list[dict[str, Any]] = [
        {"name": e.name, "url": _shown_url(e.url), "events": list(e.events), "tenant": e.tenant,
         "max_attempts": e.max_attempts}
        for e in _endpoints().values()
    ]  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No webhook endpoints configured ([[webhooks]] in the config file, or AI_WEBHOOKS).")
        return
    for row in rows:
        tenant = f"  tenant={row['tenant']}" if row["tenant"] else ""
        click.echo(f"{row['name']}  {row['url']}  events={','.join(row['events'])}{tenant}")


@webhooks.command("test")
@click.argument("name")
def test_endpoint(name: str) -> None:
    """Send a signed ``webhook.test`` event to endpoint NAME now, and record it."""
    import anyio

    from ai_core.cli.storage_support import open_database
    from ai_core.errors import IntegrationError
    from ai_core.integrations.webhook_log import SQLDeliveryLog
    from ai_core.integrations.webhook_signing import test_body
    from ai_core.integrations.webhooks import deliver_now, new_delivery
    from ai_core.pipeline.store import new_id

    endpoint = _endpoint(name)
    with open_database() as database:
        log = SQLDeliveryLog(database)
        row = new_delivery(endpoint, new_id(), "webhook.test", endpoint.tenant, test_body(endpoint.name))
        log.insert(row)
        row = anyio.run(deliver_now, endpoint, row, log)
    if row["status"] != "delivered":
        raise IntegrationError(
            f"webhook {name!r} did not take the test event: {row['last_error']} (delivery {row['id']})"
        )
    click.echo(f"delivered to {name}: HTTP {row['last_status_code']} (delivery {row['id']})")


@webhooks.command("deliveries")
@click.option("--failed", is_flag=True, help="Only deliveries that ran out of attempts.")
@click.option("--pending", is_flag=True, help="Only deliveries waiting for a retry.")
@click.option("--endpoint", default=None, help="Only this endpoint's deliveries.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def deliveries(failed: bool, pending: bool, endpoint: str | None, limit: int, as_json: bool) -> None:
    """Recent deliveries, newest first: status, attempts, last answer, next try."""
    from ai_core.cli.storage_support import open_database
    from ai_core.integrations.webhook_log import SQLDeliveryLog

    status = "failed" if failed else "pending" if pending else None
    with open_database() as database:
        rows = SQLDeliveryLog(database).list(endpoint=endpoint, status=status, limit=limit)
    if as_json:
        keys = ("id", "endpoint", "event_name", "event_id", "tenant", "status", "attempts", "last_status_code",
                "last_error", "next_attempt_at", "created_at", "delivered_at")  # fmt: skip
        shown = [{k: (r[k].isoformat() if hasattr(r[k], "isoformat") else r[k]) for k in keys} for r in rows]
        click.echo(json.dumps(shown, indent=2))
        return
    if not rows:
        click.echo("No deliveries.")
        return
    for r in rows:
        answer = r["last_error"] or (f"HTTP {r['last_status_code']}" if r["last_status_code"] else "-")
        click.echo(
            f"{r['id']}  {_when(r['created_at'])}  {r['endpoint']}  {r['event_name']}  {r['status']}  "
            f"attempts={r['attempts']}  last={answer}  next={_when(r['next_attempt_at'])}"
        )


@webhooks.command("replay")
@click.argument("delivery_id")
def replay(delivery_id: str) -> None:
    """Send delivery DELIVERY_ID again now (same payload and webhook-id)."""
    import anyio

    from ai_core.cli.storage_support import open_database
    from ai_core.errors import ConfigurationError, IntegrationError
    from ai_core.integrations.webhook_log import SQLDeliveryLog
    from ai_core.integrations.webhooks import deliver_now

    with open_database() as database:
        log = SQLDeliveryLog(database)
        row = log.get(delivery_id)
        if row is None:
            raise ConfigurationError(f"no webhook delivery with id {delivery_id!r} (see `ai webhooks deliveries`)")
        endpoint = _endpoint(row["endpoint"])
        row = anyio.run(deliver_now, endpoint, row, log)
    if row["status"] != "delivered":
        raise IntegrationError(f"replay of {delivery_id} failed: {row['last_error']} (attempts: {row['attempts']})")
    click.echo(
        f"delivered {delivery_id} to {row['endpoint']}: HTTP {row['last_status_code']} (attempt {row['attempts']})"
    )
