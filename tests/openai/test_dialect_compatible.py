"""Any OpenAI-compatible server is a plugin of a few lines: this test writes one.

The plugin below names a provider, its base URL, a model and a price, and
points at the shared dialect driver; the whole pipeline then works against the
local server, with the generic profile's choices (``max_tokens``, ``system``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from servers.openai_compat import Completion, OpenAICompatServer, Usage

from ai_core import AI, ModelInfo, ModelPrice, PluginRegistry, ProviderSpec, hookimpl

pytestmark = pytest.mark.anyio


class LocalCompatPlugin:
    """What a third party writes for, say, a local vLLM."""

    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        register(
            ProviderSpec(
                name="localllm",
                driver="ai_core.dialects.openai_chat:OpenAIChatDriver",
                default_base_url="http://127.0.0.1:8000/v1",
                requires_api_key=False,
            )
        )

    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        register(ModelInfo(provider="localllm", id="llama-3.1-8b"))

    @hookimpl
    def register_prices(self, register):  # type: ignore[no-untyped-def]
        register(
            ModelPrice(
                provider="localllm",
                model="llama-3.1-8b",
                effective_from=date(2024, 1, 1),
                input_per_mtok=Decimal("0.10"),
                output_per_mtok=Decimal("0.20"),
            )
        )


async def test_a_few_lines_plugin_for_a_compatible_server(server: OpenAICompatServer) -> None:
    import ai_core.builtin

    registry = PluginRegistry([("core", ai_core.builtin), ("localllm", LocalCompatPlugin())])
    server.reply(Completion(text="hello from vLLM", usage=Usage(prompt_tokens=100, completion_tokens=50)))
    async with AI(persistence=False, registry=registry, providers={"localllm": {"base_url": server.base_url}}) as ai:
        response = (
            await ai.conversation().model("localllm/llama-3.1-8b").system("Be brief.").max_tokens(64).user("hi").asend()
        )
    assert response.text == "hello from vLLM"
    assert response.cost.total == (Decimal(100) * Decimal("0.10") + Decimal(50) * Decimal("0.20")) / 10**6
    body = server.last_body
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "authorization" not in server.requests[-1].headers
