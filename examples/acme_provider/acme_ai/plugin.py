"""Acme's hooks. Imported when ai-core loads plugins, so it imports nothing heavy:
the driver is named by an import string and loads only when ``acme/...`` is used."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click
from ai_core import (
    Call,
    Capabilities,
    ChatResponse,
    Cost,
    Listener,
    MCPServerSpec,
    Middleware,
    ModelInfo,
    ModelPrice,
    ProviderSpec,
    ResponseGenerated,
    StreamEvent,
    TokenUsage,
    hookimpl,
)

log = logging.getLogger("acme_ai")

ACME_CAPABILITIES = Capabilities(streaming=True, tools=False, batch=True)
FLAT_FEE = Decimal("0.001")


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(
        ProviderSpec(
            name="acme",
            driver="acme_ai.driver:AcmeDriver",
            capabilities=ACME_CAPABILITIES,
            default_base_url="http://127.0.0.1:8765",
            api_key_env=("ACME_API_KEY",),
            description="Acme Chat v1 (example plugin)",
            default_model="rocket-1",
        )
    )


@hookimpl
def register_models(register: Callable[[Any], None]) -> None:
    register(ModelInfo(provider="acme", id="rocket-1", name="Rocket 1", context_window=8192, max_output_tokens=1024))
    register(ModelInfo(provider="acme", id="rocket-flat", name="Rocket flat-fee", context_window=8192))


@hookimpl
def register_prices(register: Callable[[Any], None]) -> None:
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
    return Cost(total=FLAT_FEE, output=FLAT_FEE, provider=provider, model=model, priced_by="acme-flat-fee")


class AcmeClientTag(Middleware):
    """Tells Acme's server which client called (Acme asks integrators to)."""

    name = "acme-client-tag"
    order = 600

    async def __call__(self, call: Call, call_next: Callable[[Call], Awaitable[ChatResponse]]) -> ChatResponse:
        return await call_next(self._tag(call))

    def stream(self, call: Call, call_next: Callable[[Call], AsyncIterator[StreamEvent]]) -> AsyncIterator[StreamEvent]:
        return call_next(self._tag(call))

    @staticmethod
    def _tag(call: Call) -> Call:
        if call.request.provider != "acme":
            return call
        options = {**call.request.provider_options, "acme_client": "ai-core"}
        return call.with_request(call.request.model_copy(update={"provider_options": options}))


@hookimpl
def register_middleware(register: Callable[[Any], None]) -> None:
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
        "cost": str(event.cost),
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
    register(Listener(ResponseGenerated, record_acme_response, name="acme-audit"))


@hookimpl
def register_mcp_servers(register: Callable[[Any], None]) -> None:
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
    @cli.command(name="acme-status")
    @click.option("--base-url", envvar="AI_ACME_BASE_URL", default="http://127.0.0.1:8765", show_default=True)
    def acme_status(base_url: str) -> None:
        """Show where the Acme provider sends requests."""
        click.echo(f"acme: Acme Chat v1 at {base_url}")
