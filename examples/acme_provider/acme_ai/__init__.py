"""The Acme provider for ai-core (an example plugin). The hooks live in :mod:`acme_ai.plugin`."""
