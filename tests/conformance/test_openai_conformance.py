"""ai-openai's driver passes the conformance suite against the local OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conformance.openai_double import OpenAICompatDouble
from pydantic import SecretStr
from servers.openai_compat import OpenAICompatServer
from support.openai_spec import sent_payload_errors, validate_chat_request

from ai_core.drivers.base import Driver, ProviderConfig
from ai_core.testing import ConformanceProfile, DriverConformance

API_KEY = "sk-conformance-0123456789"


def make_driver(server: OpenAICompatServer, key: str = API_KEY) -> Driver:
    from ai_openai.driver import OpenAIDriver

    return OpenAIDriver(
        ProviderConfig(
            provider="openai", api_key=SecretStr(key), base_url=server.base_url, timeout=5.0, stream_idle_timeout=2.0
        )
    )


class TestOpenAIConformance(DriverConformance):
    @pytest.fixture
    def server(self, openai_server: OpenAICompatServer) -> Iterator[OpenAICompatServer]:
        """The server, with every request and reply checked against OpenAI's OpenAPI document."""
        openai_server.api_keys = {API_KEY}
        yield openai_server
        problems = [
            f"request {i}: {p}" for i, body in enumerate(openai_server.chat_bodies) for p in validate_chat_request(body)
        ]
        problems += sent_payload_errors(openai_server.sent)
        assert not problems, "traffic does not match openai-openapi.yaml:\n" + "\n".join(problems)

    @pytest.fixture
    def conformance_double(self, server: OpenAICompatServer) -> OpenAICompatDouble:
        return OpenAICompatDouble(server)

    @pytest.fixture
    def conformance_driver(self, server: OpenAICompatServer) -> Driver:
        return make_driver(server)

    @pytest.fixture
    def conformance_bad_credentials_driver(self, server: OpenAICompatServer) -> Driver:
        return make_driver(server, key="sk-wrong-key")

    @pytest.fixture
    def conformance_profile(self) -> ConformanceProfile:
        return ConformanceProfile(model="gpt-4o-mini")
