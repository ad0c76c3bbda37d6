"""``ai_core.use_otel_providers``: importable without the ``otel`` extra."""

from __future__ import annotations

from typing import Any

__all__ = ["use_otel_providers"]


def use_otel_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Record ai-core's spans and metrics with these OpenTelemetry providers instead of
    the global ones (``None``: the global one again)."""
    try:
        from ai_core.integrations.otel import use_providers
    except ImportError:
        from ai_core.errors import ConfigurationError

        raise ConfigurationError('OpenTelemetry is not installed: pip install "ai-core[otel]"') from None
    use_providers(tracer_provider, meter_provider)
