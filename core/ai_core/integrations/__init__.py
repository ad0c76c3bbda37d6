"""Listeners and layers that connect ai-core to other systems.

Each is a plugin of core's own contract, registered by core's ``builtin``
plugin through ``register_listeners`` / ``register_middleware``, inert until
configured, and switched off by name with ``AI_LISTENERS_DISABLED``:

- :mod:`.webhooks`: events to HTTP endpoints, signed (Standard Webhooks), retried, recorded.
- :mod:`.notifications`: budget, breaker, error-rate and cost alerts by e-mail, Slack or webhook.
- :mod:`.analytics`: ``ai_usage_analytics`` and ``ai_model_performance`` kept current.
- :mod:`.anomaly`: :class:`~ai_core.events.types.CostAnomalyDetected`.
- :mod:`.otel`: OpenTelemetry spans and metrics (``ai-core[otel]``).

Nothing here is imported by ``import ai_core``.
"""
