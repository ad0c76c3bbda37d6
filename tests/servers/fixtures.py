"""pytest fixtures for the local wire-format servers; import them into a conftest.

One server per flavour per session (starting one is cheap, but tests are
many); each test gets it reset: empty script, no recorded traffic, any key
accepted, the default model list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from servers.openai_compat import OpenAICompatServer

__all__ = ["TEST_API_KEY", "driver_config", "openai_server", "xai_server"]

TEST_API_KEY = "sk-test-0123456789abcdef"

_XAI_MODELS = ["grok-4.3", "grok-3-mini", "grok-imagine-image"]


def _fresh(server: OpenAICompatServer, models: list[str]) -> OpenAICompatServer:
    server.reset()
    server.api_keys = None
    server.models = list(models)
    return server


@pytest.fixture(scope="session")
def _openai_server_session() -> Iterator[OpenAICompatServer]:
    server = OpenAICompatServer(flavor="openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _xai_server_session() -> Iterator[OpenAICompatServer]:
    server = OpenAICompatServer(flavor="xai", models=_XAI_MODELS).start()
    yield server
    server.stop()


@pytest.fixture
def openai_server(_openai_server_session: OpenAICompatServer) -> OpenAICompatServer:
    """A running OpenAI-flavoured Chat Completions server, reset for this test."""
    return _fresh(_openai_server_session, ["gpt-4o", "gpt-4o-mini", "o4-mini", "text-embedding-3-small", "tts-1"])


@pytest.fixture
def xai_server(_xai_server_session: OpenAICompatServer) -> OpenAICompatServer:
    """A running xAI-flavoured Chat Completions server, reset for this test."""
    return _fresh(_xai_server_session, _XAI_MODELS)


def driver_config(server: OpenAICompatServer, provider: str = "openai", **overrides: Any) -> Any:
    """A ``ProviderConfig`` pointing at ``server``, with short timeouts for tests."""
    from pydantic import SecretStr

    from ai_core.drivers.base import ProviderConfig

    values: dict[str, Any] = {
        "provider": provider,
        "api_key": SecretStr(TEST_API_KEY),
        "base_url": server.base_url,
        "timeout": 5.0,
        "stream_idle_timeout": 2.0,
    }
    values.update(overrides)
    return ProviderConfig(**values)
