"""Fixtures for the Gemini suites: a local Generative Language server, validated, and a driver on it.

Every request body the driver sends in a test is checked against the discovery
document when the test ends, and so is every payload the server sent back
(support.gemini_spec). One server per session; each test gets it reset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from gemini.double import gemini_config
from servers.gemini_server import GeminiServer
from support.gemini_spec import request_errors, sent_payload_errors


@pytest.fixture(scope="session")
def _gemini_session() -> Iterator[GeminiServer]:
    server = GeminiServer().start()
    yield server
    server.stop()


def traffic_problems(server: GeminiServer) -> list[str]:
    """What the driver sent (and the server answered) that the discovery document does not allow."""
    problems: list[str] = []
    for index, received in enumerate(server.requests):
        if received.method != "POST":
            continue
        method = received.path.rsplit(":", 1)[-1]
        problems += [f"request {index} ({method}): {p}" for p in request_errors(method, received.body)]
        if "key" in received.query:
            problems.append(f"request {index}: the API key was sent in the URL")
    return problems + ([] if server.off_spec else sent_payload_errors(server.sent))


@pytest.fixture
def gemini_server(_gemini_session: GeminiServer) -> Iterator[GeminiServer]:
    """The running server, reset for this test; its traffic is checked against the spec afterwards."""
    _gemini_session.reset()
    yield _gemini_session
    problems = traffic_problems(_gemini_session)
    assert not problems, "traffic does not match the discovery document:\n" + "\n".join(problems)


@pytest.fixture
async def driver(gemini_server: GeminiServer) -> AsyncIterator[Any]:
    from ai_gemini.driver import GeminiDriver

    instance = GeminiDriver(gemini_config(gemini_server))
    yield instance
    await instance.aclose()
