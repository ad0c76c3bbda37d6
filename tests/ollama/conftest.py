"""Fixtures for the Ollama suites: a local Ollama double whose traffic is checked against the spec.

Every request body the driver sends in a test is validated against
ollama-openapi.yaml (and the fields the API reference documents) when the test
ends (support.ollama_spec).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from servers.ollama_server import OllamaServer
from support.ollama_spec import request_errors


@pytest.fixture(scope="session")
def _ollama_session() -> Iterator[OllamaServer]:
    server = OllamaServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_ollama_session: OllamaServer) -> Iterator[OllamaServer]:
    """The Ollama double, reset; what the driver sent is checked against the spec afterwards."""
    _ollama_session.reset()
    yield _ollama_session
    problems = [
        f"{method} {path} #{index}: {problem}"
        for index, (method, path, body) in enumerate(list(_ollama_session.requests))
        for problem in request_errors(path, body)
    ]
    assert not problems, "requests do not match ollama-openapi.yaml:\n" + "\n".join(problems)


def driver_config(server: OllamaServer, **overrides: Any) -> Any:
    from ai_core.drivers.base import ProviderConfig

    values: dict[str, Any] = {
        "provider": "ollama",
        "base_url": server.base_url,
        "timeout": 5.0,
        "stream_idle_timeout": 2.0,
    }
    values.update(overrides)
    return ProviderConfig(**values)


@pytest.fixture
async def driver(server: OllamaServer) -> AsyncIterator[Any]:
    from ai_ollama.driver import OllamaDriver

    instance = OllamaDriver(driver_config(server))
    yield instance
    await instance.aclose()
