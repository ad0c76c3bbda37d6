"""Fixtures for the xAI driver suites: a validated xAI-flavoured server and a driver on it.

xAI publishes no OpenAPI document; its traffic is validated against OpenAI's
schemas after removing xAI's known additions (support.openai_spec.normalize_xai).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from servers.fixtures import _xai_server_session, driver_config, xai_server  # noqa: F401
from servers.openai_compat import OpenAICompatServer
from support.openai_spec import sent_payload_errors, validate_chat_request


@pytest.fixture
def server(xai_server: OpenAICompatServer) -> Iterator[OpenAICompatServer]:  # noqa: F811
    yield xai_server
    problems: list[str] = []
    for index, body in enumerate(xai_server.chat_bodies):
        problems += [f"request {index}: {p}" for p in validate_chat_request(body)]
    problems += sent_payload_errors(xai_server.sent, flavor="xai")
    assert not problems, "xAI traffic does not match openai-openapi.yaml:\n" + "\n".join(problems)


@pytest.fixture
async def driver(server: OpenAICompatServer) -> AsyncIterator[object]:
    from ai_xai.driver import XAIDriver

    instance = XAIDriver(driver_config(server, provider="xai"))
    yield instance
    await instance.aclose()
