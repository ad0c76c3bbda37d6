"""Fixtures for the OpenAI driver suites: a validated local server and a driver on it.

Every chat request body the driver sends to the server in a test, and every
payload the server sends back, is validated against OpenAI's OpenAPI document
when the test ends (support.openai_spec).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from ai_core.drivers.base import ProviderConfig
from pydantic import SecretStr
from servers.fixtures import _openai_server_session, openai_server  # noqa: F401
from servers.openai_compat import OpenAICompatServer
from support.openai_spec import sent_payload_errors, validate_chat_request

API_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def server(openai_server: OpenAICompatServer) -> Iterator[OpenAICompatServer]:  # noqa: F811
    """The OpenAI server double; its traffic is checked against the spec afterwards."""
    openai_server.allow_extra = frozenset()  # type: ignore[attr-defined]
    yield openai_server
    problems: list[str] = []
    for index, body in enumerate(openai_server.chat_bodies):
        problems += [f"request {index}: {p}" for p in validate_chat_request(body, allow_extra=openai_server.allow_extra)]  # type: ignore[attr-defined]
    problems += sent_payload_errors(openai_server.sent)
    assert not problems, "traffic does not match openai-openapi.yaml:\n" + "\n".join(problems)


def config_for(server: OpenAICompatServer, **overrides: object) -> ProviderConfig:
    values: dict[str, object] = {
        "provider": "openai",
        "api_key": SecretStr(API_KEY),
        "base_url": server.base_url,
        "timeout": 5.0,
        "stream_idle_timeout": 2.0,
    }
    values.update(overrides)
    return ProviderConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def driver(server: OpenAICompatServer) -> AsyncIterator[object]:
    from ai_openai.driver import OpenAIDriver

    instance = OpenAIDriver(config_for(server))
    yield instance
    await instance.aclose()
