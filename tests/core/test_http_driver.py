"""HTTPDriver: every failure mapped to the typed hierarchy, stalled streams bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
from pydantic import SecretStr

from ai_core import errors
from ai_core.drivers import http
from ai_core.drivers.base import HTTPDriver, ProviderConfig, retry_after_seconds
from ai_core.drivers.streaming import iter_sse
from ai_core.types import ChatRequest, ChatResponse, StreamEvent


class EchoHTTPDriver(HTTPDriver):
    default_base_url = "http://test.invalid"

    async def send(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError


def driver_for(handler, **config) -> EchoHTTPDriver:  # type: ignore[no-untyped-def]
    return EchoHTTPDriver(
        ProviderConfig(
            provider="t", api_key=SecretStr("sk-test-secret-123456"), transport=http.MockTransport(handler), **config
        )
    )


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"error": {"message": "bad key", "type": "invalid_request_error"}}, errors.AuthenticationError),
        (403, {"error": {"message": "nope"}}, errors.PermissionDeniedError),
        (404, {"error": {"message": "no model"}}, errors.NotFoundError),
        (429, {"error": {"message": "slow"}}, errors.RateLimitError),
        (400, {"error": {"message": "bad", "code": "context_length_exceeded"}}, errors.ContextLengthExceededError),
        (400, {"error": {"message": "bad field"}}, errors.InvalidRequestError),
        (500, {"error": {"message": "oops"}}, errors.ProviderUnavailableError),
        (503, "not json at all", errors.ProviderUnavailableError),
    ],
)
@pytest.mark.anyio
async def test_statuses_map_to_typed_errors(status: int, body: object, error: type[Exception]) -> None:
    def handler(request: http.Request) -> http.Response:
        content = json.dumps(body) if not isinstance(body, str) else body
        return http.Response(status, content=content, headers={"retry-after": "3"})

    driver = driver_for(handler)
    with pytest.raises(error) as info:
        await driver.post_json("/x", {})
    assert info.value.status_code == status  # type: ignore[attr-defined]
    if status == 429:
        assert info.value.retry_after == 3  # type: ignore[attr-defined]
    await driver.aclose()


@pytest.mark.anyio
async def test_non_json_success_body_is_malformed_response() -> None:
    driver = driver_for(lambda request: http.Response(200, content=b"<html>"))
    with pytest.raises(errors.MalformedResponseError):
        await driver.post_json("/x", {})


@pytest.mark.anyio
async def test_connection_failure_is_provider_unavailable() -> None:
    def handler(request: http.Request) -> http.Response:
        raise http.ConnectError("refused", request=request)

    with pytest.raises(errors.ProviderUnavailableError) as info:
        await driver_for(handler).post_json("/x", {})
    assert isinstance(info.value.__cause__, http.ConnectError)


@pytest.mark.anyio
async def test_key_is_sent_but_never_in_errors() -> None:
    seen: list[str] = []

    def handler(request: http.Request) -> http.Response:
        seen.append(request.headers["authorization"])
        return http.Response(401, json={"error": {"message": "Incorrect API key provided: sk-test-secret-123456"}})

    with pytest.raises(errors.AuthenticationError) as info:
        await driver_for(handler).post_json("/x", {})
    assert seen == ["Bearer sk-test-secret-123456"]
    assert "sk-test-secret-123456" not in str(info.value)
    assert "sk-test-secret" not in repr(driver_for(handler).config)


@pytest.mark.anyio
async def test_sse_parser_handles_multiline_comments_and_events() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": keep-alive", "event: delta", "data: a", "data: b", "id: 7", "", 'data: {"x": 1}', ""]:
            yield line

    events = [e async for e in iter_sse(lines())]
    assert [(e.event, e.data, e.id) for e in events] == [("delta", "a\nb", "7"), ("message", '{"x": 1}', "7")]
    assert events[1].json() == {"x": 1}


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


class Stall(http.AsyncBaseTransport):
    """A transport that ignores read timeouts: only ai-core's own guard can stop it."""

    async def handle_async_request(self, request: http.Request) -> http.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"
            await anyio.sleep(30)
            yield b"data: 2\n\n"

        return http.Response(200, headers={"content-type": "text/event-stream"}, content=body())


@pytest.mark.anyio
async def test_stall_through_a_custom_transport_still_times_out() -> None:
    driver = EchoHTTPDriver(ProviderConfig(provider="t", transport=Stall(), stream_idle_timeout=0.2))
    lines: list[str] = []
    with anyio.fail_after(5), pytest.raises(errors.ProviderTimeoutError):
        async for line in driver.stream_lines("/x", {}):
            lines.append(line)
    assert lines[0] == "data: 1"
