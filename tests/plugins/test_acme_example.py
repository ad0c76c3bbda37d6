"""The example third-party plugin (examples/acme_provider), in process, against its server double.

tests/packaging installs the same plugin from a wheel and drives it through ``ai``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ai_core import builtin
from ai_core.app import AI
from ai_core.errors import AuthenticationError, RateLimitError
from ai_core.plugins import PluginRegistry
from ai_core.types import StreamCompleted, TextDelta

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme_provider"


@pytest.fixture(scope="module")
def acme() -> Iterator[Any]:
    sys.path.insert(0, str(EXAMPLE))
    try:
        import acme_ai.plugin
        import acme_ai.server

        yield acme_ai
    finally:
        sys.path.remove(str(EXAMPLE))


@pytest.fixture
def server(acme: Any) -> Iterator[Any]:
    with acme.server.AcmeServer() as running:
        yield running


@pytest.fixture
def audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("ACME_AUDIT_LOG", str(path))
    return path


def make_ai(acme: Any, server: Any, key: str = "k") -> AI:
    registry = PluginRegistry(plugins=[("core", builtin), ("acme", acme.plugin)])
    assert registry.load_errors == []
    return AI(
        registry=registry,
        persistence=False,
        providers={"acme": {"api_key": key, "base_url": server.base_url, "retry_attempts": 0}},
    )


def test_inventory_of_the_example(acme: Any) -> None:
    [info] = PluginRegistry(plugins=[("acme", acme.plugin)]).inventory()
    assert info.hooks == [
        "calculate_cost", "register_commands", "register_listeners", "register_mcp_servers",
        "register_middleware", "register_models", "register_prices", "register_providers",
    ]  # fmt: skip
    assert [p.name for p in info.providers] == ["acme"]
    assert info.models == ["acme/rocket-1", "acme/rocket-flat"]
    assert [(m.name, m.order) for m in info.middleware] == [("acme-client-tag", 600)]
    assert [lst.name for lst in info.listeners] == ["acme-audit"]
    assert [(s.name, s.tools) for s in info.mcp_servers] == [("acme-tools", ["feet_to_metres"])]
    assert info.cli_commands == ["acme-status"]


@pytest.mark.anyio
async def test_send_and_stream_agree_and_are_priced(acme: Any, server: Any, audit: Path) -> None:
    ai = make_ai(acme, server)
    try:
        sent = await ai.conversation("acme/rocket-1").system("Be brief.").user("hello acme").asend()
        pieces: list[str] = []
        final = None
        async for event in ai.conversation("acme/rocket-1").system("Be brief.").user("hello acme").astream():
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            elif isinstance(event, StreamCompleted):
                final = event.response
    finally:
        await ai.aclose()

    assert sent.text == "Acme says: hello acme"
    assert final is not None and "".join(pieces) == final.text == sent.text
    assert final.usage == sent.usage
    assert (sent.usage.input_tokens, sent.usage.output_tokens) == (4, 4)  # words: "Be brief." + "hello acme"
    assert sent.cost is not None and sent.cost.total == Decimal(4 * 2 + 4 * 8) / 1_000_000
    assert final.cost == sent.cost
    # The middleware tagged both calls; the listener audited both after the fact.
    assert [r["client"] for r in server.requests] == ["ai-core", "ai-core"]
    assert [r["stream"] for r in server.requests] == [False, True]
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted(line["streamed"] for line in lines) == [False, True]


@pytest.mark.anyio
async def test_flat_fee_model_is_priced_by_the_plugin(acme: Any, server: Any) -> None:
    ai = make_ai(acme, server)
    try:
        reply = await ai.conversation("acme/rocket-flat").user("hi").asend()
    finally:
        await ai.aclose()
    assert reply.cost is not None and reply.cost.total == Decimal("0.001")
    assert reply.cost.priced_by == "acme-flat-fee"


@pytest.mark.anyio
async def test_errors_are_typed_in_and_out_of_streams(acme: Any, server: Any) -> None:
    ai = make_ai(acme, server)
    try:
        with pytest.raises(RateLimitError):
            await ai.conversation("acme/rocket-1").user("rate-limit-me").asend()
        with pytest.raises(RateLimitError, match="slow down"):
            async for _ in ai.conversation("acme/rocket-1").user("rate-limit-me").astream():
                pass
    finally:
        await ai.aclose()
    bad = make_ai(acme, server, key="bad-key")
    try:
        with pytest.raises(AuthenticationError, match="invalid Acme key"):
            await bad.conversation("acme/rocket-1").user("hi").asend()
    finally:
        await bad.aclose()


@pytest.mark.anyio
async def test_the_mcp_server_converts(acme: Any) -> None:
    spec = PluginRegistry(plugins=[("acme", acme.plugin)]).mcp_servers()["acme-tools"]
    server = spec.load_factory()()
    assert [t.name for t in await server.list_tools()] == ["feet_to_metres"]
    assert (await server.call_tool("feet_to_metres", {"feet": 10})).content == "3.0480"
    assert (await server.call_tool("feet_to_metres", {"feet": "x"})).is_error
