"""Echo Wire's own tests: the conformance suite, and the plugin through ``AI(...)``.

Run them with the plugin installed: ``pip install ".[test]" && pytest tests``. ai-core's
pytest plugin loads core and this plugin only (the entry points of pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from echo_wire.double import EchoWireDouble
from echo_wire.driver import EchoWireDriver
from echo_wire.server import EchoWireServer, Refusal
from pydantic import SecretStr

from ai_core import AI, ProviderConfig, RateLimitError, RequestValidationError
from ai_core.testing import ConformanceProfile, DriverConformance


@pytest.fixture
def server() -> Iterator[EchoWireServer]:
    with EchoWireServer() as running:
        yield running


def make_driver(server: EchoWireServer, key: str = "test-key") -> EchoWireDriver:
    config = ProviderConfig(
        provider="echowire", api_key=SecretStr(key), base_url=server.base_url, timeout=5, stream_idle_timeout=5
    )
    return EchoWireDriver(config)


class TestEchoWireConformance(DriverConformance):
    @pytest.fixture
    def conformance_driver(self, server: EchoWireServer) -> EchoWireDriver:
        return make_driver(server)

    @pytest.fixture
    def conformance_bad_credentials_driver(self, server: EchoWireServer) -> EchoWireDriver:
        return make_driver(server, key="bad-key")

    @pytest.fixture
    def conformance_double(self, server: EchoWireServer) -> EchoWireDouble:
        return EchoWireDouble(server)

    @pytest.fixture
    def conformance_profile(self) -> ConformanceProfile:
        # No images and no structured output in Echo Wire; its meter comes before the end of a stream.
        return ConformanceProfile(model="echo-1", vision=False, json_schema=False, usage_before_end=True)


@pytest.fixture
def ai(server: EchoWireServer) -> Iterator[AI]:
    ai = AI(
        persistence=False,
        providers={"echowire": {"base_url": server.base_url, "api_key": "test-key", "retry_attempts": 0}},
    )
    yield ai
    ai.close()


def test_a_conversation_is_answered_and_priced(ai: AI) -> None:
    reply = ai.conversation("echowire/echo-1").user("hello there").send()
    assert reply.text == "Echo: hello there"
    assert reply.cost is not None and reply.cost.total is not None and reply.cost.total > 0


def test_a_tool_round(ai: AI, server: EchoWireServer) -> None:
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"sunny in {city}"

    from echo_wire.server import Answer

    server.arrange("Weather?", Answer(calls=[{"ref": "c1", "tool": "get_weather", "input": {"city": "Paris"}}]))
    reply = ai.conversation("echowire/echo-1").tool(get_weather).user("Weather?").send()
    assert reply.text == "The tool said: sunny in Paris"


def test_errors_and_refusals(ai: AI, server: EchoWireServer) -> None:
    server.arrange("slow down", Refusal(429, "too many requests", retry_after=2))
    with pytest.raises(RateLimitError) as caught:
        ai.conversation("echowire/echo-1").user("slow down").send()
    assert caught.value.status_code == 429 and caught.value.retry_after == 2.0
    with pytest.raises(RequestValidationError, match="does not support structured output"):
        ai.conversation("echowire/echo-1").json().user("as JSON").send()
