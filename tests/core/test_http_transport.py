"""The HTTP layer against a real local server: the default transport on each
backend (aiohttp on asyncio, httpx2's own on trio) behaves the same."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import anyio
import pytest
import sniffio
from pydantic import SecretStr

from ai_core import errors
from ai_core.drivers import http
from ai_core.drivers.base import ProviderConfig
from tests.core.test_http_driver import EchoHTTPDriver


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        payload = await request.json()
        return web.json_response({"echo": payload, "auth": request.headers.get("authorization")})

    async def fail(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "quota", "type": "rate_limit"}}, status=429, headers={"retry-after": "7"}
        )

    async def lines(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for index in range(3):
            await response.write(f"data: {index}\n\n".encode())
        await response.write_eof()
        return response

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"data: partial\n\n")
        assert request.transport is not None
        request.transport.close()  # drop the connection mid-stream
        return response

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 1\n\n")
        await asyncio.sleep(30)  # the client's idle timeout must fire long before this
        return response

    app = web.Application()
    app.router.add_post("/stall", stall)
    app.router.add_post("/ok", ok)
    app.router.add_post("/fail", fail)
    app.router.add_post("/lines", lines)
    app.router.add_post("/cut", cut)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def make(base_url: str, **kwargs: object) -> EchoHTTPDriver:
    return EchoHTTPDriver(
        ProviderConfig(provider="t", base_url=base_url, api_key=SecretStr("sk-transport-test-1"), **kwargs)
    )  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_default_transport_per_backend(server: str) -> None:
    driver = make(server)
    body = await driver.post_json("/ok", {"hello": "world"})
    assert body == {"echo": {"hello": "world"}, "auth": "Bearer sk-transport-test-1"}
    transport = driver.client._transport
    if sniffio.current_async_library() == "asyncio":
        assert isinstance(transport, http.AiohttpTransport)
    else:
        assert not isinstance(transport, http.AiohttpTransport)
    await driver.aclose()


@pytest.mark.anyio
async def test_errors_and_retry_after_through_the_real_transport(server: str) -> None:
    driver = make(server)
    with pytest.raises(errors.RateLimitError) as info:
        await driver.post_json("/fail", {})
    assert info.value.retry_after == 7
    await driver.aclose()


@pytest.mark.anyio
async def test_streamed_lines(server: str) -> None:
    driver = make(server)
    lines = [line async for line in driver.stream_lines("/lines", {}) if line]
    assert lines == ["data: 0", "data: 1", "data: 2"]
    await driver.aclose()


@pytest.mark.anyio
async def test_connection_cut_mid_stream_is_stream_interrupted(server: str) -> None:
    driver = make(server)
    with anyio.fail_after(10), pytest.raises(errors.StreamInterruptedError):
        async for _ in driver.stream_lines("/cut", {}):
            pass
    await driver.aclose()


@pytest.mark.anyio
async def test_refused_connection_is_provider_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    driver = make(f"http://127.0.0.1:{port}")
    with pytest.raises(errors.ProviderUnavailableError):
        await driver.post_json("/ok", {})
    await driver.aclose()


@pytest.mark.anyio
async def test_stalled_stream_times_out_instead_of_hanging(server: str) -> None:
    driver = make(server, stream_idle_timeout=0.3)
    lines: list[str] = []
    with anyio.fail_after(10), pytest.raises(errors.ProviderTimeoutError, match="stalled"):
        async for line in driver.stream_lines("/stall", {}):
            lines.append(line)
    assert lines[0] == "data: 1"
    await driver.aclose()
