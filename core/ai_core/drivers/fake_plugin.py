"""Registers the built-in ``fake`` provider through core's own entry point,
exactly as a third-party plugin would, so it can be disabled like any other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from ai_core.hookspecs import hookimpl


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from ai_core.drivers.base import ProviderSpec
    from ai_core.drivers.fake import FAKE_CAPABILITIES

    register(
        ProviderSpec(
            name="fake",
            driver="ai_core.drivers.fake:FakeDriver",
            capabilities=FAKE_CAPABILITIES,
            requires_api_key=False,
            description="Offline fake provider for demos and tests (echo or scripted replies).",
            default_model="echo",
        )
    )


@hookimpl
def register_models(register: Callable[[Any], None]) -> None:
    from ai_core.drivers.fake import FAKE_CAPABILITIES
    from ai_core.types import ModelInfo

    register(
        ModelInfo(
            provider="fake",
            id="echo",
            name="Fake echo",
            context_window=128_000,
            max_output_tokens=4096,
            capabilities=FAKE_CAPABILITIES,
        )
    )


@hookimpl
def register_prices(register: Callable[[Any], None]) -> None:
    from ai_core.types import ModelPrice

    # Priced like a small hosted model so demos and budget tests show real money.
    register(
        ModelPrice(
            provider="fake",
            model="echo",
            effective_from=date(2024, 1, 1),
            input_per_mtok=Decimal("0.50"),
            output_per_mtok=Decimal("1.50"),
            cached_input_per_mtok=Decimal("0.05"),
        )
    )
