"""ai-gemini's driver passes the conformance suite against the local Generative Language server."""

from __future__ import annotations

import pytest
from gemini.double import GeminiDouble, gemini_config
from servers.gemini_server import GeminiServer

from ai_core.drivers.base import Driver
from ai_core.testing import ConformanceProfile, DriverConformance


def make_driver(server: GeminiServer, key: str | None = None) -> Driver:
    from ai_gemini.driver import GeminiDriver

    return GeminiDriver(gemini_config(server) if key is None else gemini_config(server, key=key))


class TestGeminiConformance(DriverConformance):
    @pytest.fixture
    def conformance_double(self, gemini_server: GeminiServer) -> GeminiDouble:
        return GeminiDouble(gemini_server)

    @pytest.fixture
    def conformance_driver(self, gemini_server: GeminiServer) -> Driver:
        return make_driver(gemini_server)

    @pytest.fixture
    def conformance_bad_credentials_driver(self, gemini_server: GeminiServer) -> Driver:
        return make_driver(gemini_server, key="bad-key")

    @pytest.fixture
    def conformance_profile(self) -> ConformanceProfile:
        # Gemini repeats usageMetadata on every chunk: a stream cut part-way has usage to pass on.
        return ConformanceProfile(model="gemini-2.5-flash", usage_before_end=True)
