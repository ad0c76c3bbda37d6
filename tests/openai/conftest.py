"""Fixtures for the OpenAI driver suites: a validated local server and a driver on it.

Every chat request body the driver sends to the server in a test, and every
payload the server sends back, is validated against OpenAI's OpenAPI document
when the test ends (support.openai_spec).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from servers.fixtures import TEST_API_KEY, _openai_server_session, driver_config, openai_server  # noqa: F401
from servers.openai_compat import OpenAICompatServer
from support.openai_spec import sent_payload_errors, validate_chat_request


@pytest.fixture
def server(openai_server: OpenAICompatServer) -> Iterator[OpenAICompatServer]:  # noqa: F811
    """The OpenAI server double; its traffic is checked against the spec afterwards."""
    openai_server.allow_extra = frozenset()  # type: ignore[attr-defined]
    yield openai_server
    problems: list[str] = []
    for index, body in enumerate(openai_server.chat_bodies):
        problems += [
            f"request {index}: {p}" for p in validate_chat_request(body, allow_extra=openai_server.allow_extra)
        ]  # type: ignore[attr-defined]
    problems += sent_payload_errors(openai_server.sent)
    assert not problems, "traffic does not match openai-openapi.yaml:\n" + "\n".join(problems)


@pytest.fixture
async def driver(server: OpenAICompatServer) -> AsyncIterator[object]:
    from ai_openai.driver import OpenAIDriver

    instance = OpenAIDriver(driver_config(server))
    yield instance
    await instance.aclose()
