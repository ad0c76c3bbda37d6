"""Echo Wire's hooks: the provider (with its capabilities, declared here once), its model and price.

ai-core imports this module whenever it loads plugins, so it imports nothing but
``hookimpl``; the driver is named by an import string and loads on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ai_core import hookimpl


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from ai_core import Capabilities, ProviderSpec

    register(
        ProviderSpec(
            name="echowire",
            driver="echo_wire.driver:EchoWireDriver",
            # The one declaration of what Echo Wire can do: ai plugins lists it, the pipeline refuses
            # images and structured output before any call, the conformance suite checks tools.
            capabilities=Capabilities(streaming=True, tools=True, tool_streaming=True),
            default_base_url="http://127.0.0.1:8766",
            api_key_env=("ECHOWIRE_API_KEY",),
            description="Echo Wire v1 (the worked driver of docs/drivers.md)",
            default_model="echo-1",
        )
    )


@hookimpl
def register_models(register: Callable[[Any], None]) -> None:
    from ai_core import ModelInfo

    register(ModelInfo(provider="echowire", id="echo-1", name="Echo 1", context_window=32_000, max_output_tokens=4096))


@hookimpl
def register_prices(register: Callable[[Any], None]) -> None:
    from datetime import date
    from decimal import Decimal

    from ai_core import ModelPrice

    register(
        ModelPrice(
            provider="echowire",
            model="echo-1",
            effective_from=date(2025, 1, 1),
            input_per_mtok=Decimal("1.00"),
            cached_input_per_mtok=Decimal("0.10"),
            output_per_mtok=Decimal("4.00"),
        )
    )
