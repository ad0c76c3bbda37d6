"""Acme's hooks.

ai-core imports this module whenever it loads plugins (even for ``ai --help``),
so it imports nothing but ``hookimpl``: everything else is imported inside the
hook that needs it, and the driver is named by an import string so it loads
only when ``acme/...`` is used.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ai_core import hookimpl

if TYPE_CHECKING:
    from datetime import datetime

    import click

    from ai_core import Cost, ResponseGenerated, TokenUsage

log = logging.getLogger("acme_ai")


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from ai_core import Capabilities, ProviderSpec

    register(
        ProviderSpec(
            name="acme",
            driver="acme_ai.driver:AcmeDriver",
            capabilities=Capabilities(streaming=True, tools=False, batch=True),
            default_base_url="http://127.0.0.1:8765",
            api_key_env=("ACME_API_KEY",),
            description="Acme Chat v1 (example plugin)",
            default_model="rocket-1",
        )
    )


@hookimpl
def register_models(register: Callable[[Any], None]) -> None:
    from ai_core import ModelInfo

    register(ModelInfo(provider="acme", id="rocket-1", name="Rocket 1", context_window=8192, max_output_tokens=1024))
    register(ModelInfo(provider="acme", id="rocket-flat", name="Rocket flat-fee", context_window=8192))


@hookimpl
def register_prices(register: Callable[[Any], None]) -> None:
    from datetime import date
    from decimal import Decimal

    from ai_core import ModelPrice

    register(
        ModelPrice(
            provider="acme",
            model="rocket-1",
            effective_from=date(2025, 1, 1),
            input_per_mtok=Decimal("2.00"),
            output_per_mtok=Decimal("8.00"),
        )
    )


@hookimpl
def calculate_cost(provider: str, model: str, usage: TokenUsage, priced_at: datetime) -> Cost | None:
    """rocket-flat costs a flat fee per call, which no per-token price row can say."""
    if (provider, model) != ("acme", "rocket-flat"):
        return None
    from decimal import Decimal

    from ai_core import Cost

    fee = Decimal("0.001")
    return Cost(total=fee, output=fee, provider=provider, model=model, priced_by="acme-flat-fee")


@hookimpl
def register_middleware(register: Callable[[Any], None]) -> None:
    from acme_ai.middleware import AcmeClientTag

    register(AcmeClientTag())


def record_acme_response(event: ResponseGenerated) -> None:
    """Audit Acme calls: one JSON line per response to $ACME_AUDIT_LOG (or the log).

    A sync listener: core runs it in a worker thread, after the caller has its answer.
    """
    if event.provider != "acme":
        return
    line = {
        "model": event.model,
        "tokens": event.usage.total_tokens,
        "cost": str(event.cost.total) if event.cost and event.cost.known else None,
        "streamed": event.streamed,
    }
    path = os.environ.get("ACME_AUDIT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as audit:
            audit.write(json.dumps(line) + "\n")
    else:
        log.info("acme response: %s", line)


@hookimpl
def register_listeners(register: Callable[[Any], None]) -> None:
    from ai_core import Listener, ResponseGenerated

    register(Listener(ResponseGenerated, record_acme_response, name="acme-audit"))


@hookimpl
def register_mcp_servers(register: Callable[[Any], None]) -> None:
    from ai_core import MCPServerSpec

    register(
        MCPServerSpec(
            name="acme-tools",
            factory="acme_ai.tools:AcmeTools",
            transport="in-process",
            description="Acme's unit converter",
            tools=("feet_to_metres",),
        )
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    import click

    @cli.command(name="acme-status")
    @click.option("--base-url", envvar="AI_ACME_BASE_URL", default="http://127.0.0.1:8765", show_default=True)
    def acme_status(base_url: str) -> None:
        """Show where the Acme provider sends requests."""
        click.echo(f"acme: Acme Chat v1 at {base_url}")
