"""ai-xai's driver passes the conformance suite against the local server in its xAI flavour."""

from __future__ import annotations

import pytest
from conformance.openai_double import OpenAICompatDouble
from pydantic import SecretStr
from servers.openai_compat import OpenAICompatServer

from ai_core.drivers.base import Driver, ProviderConfig
from ai_core.testing import ConformanceProfile, DriverConformance

API_KEY = "xai-conformance-0123456789"


def make_driver(server: OpenAICompatServer, key: str = API_KEY) -> Driver:
    from ai_xai.driver import XAIDriver

    return XAIDriver(
        ProviderConfig(
            provider="xai", api_key=SecretStr(key), base_url=server.base_url, timeout=5.0, stream_idle_timeout=2.0
        )
    )


class TestXAIConformance(DriverConformance):
    @pytest.fixture
    def server(self, xai_server: OpenAICompatServer) -> OpenAICompatServer:
        xai_server.api_keys = {API_KEY}
        return xai_server

    @pytest.fixture
    def conformance_double(self, server: OpenAICompatServer) -> OpenAICompatDouble:
        return OpenAICompatDouble(server)

    @pytest.fixture
    def conformance_driver(self, server: OpenAICompatServer) -> Driver:
        return make_driver(server)

    @pytest.fixture
    def conformance_bad_credentials_driver(self, server: OpenAICompatServer) -> Driver:
        return make_driver(server, key="xai-wrong-key")

    @pytest.fixture
    def conformance_profile(self) -> ConformanceProfile:
        # xAI repeats the usage on every chunk: a stream cut part-way has usage to pass on.
        return ConformanceProfile(model="grok-4.3", usage_before_end=True)
