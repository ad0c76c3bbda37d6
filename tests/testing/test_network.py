"""The network guard refuses non-local traffic and lets loopback through.

Every test that tries a remote address first replaces the real ``connect`` and
``getaddrinfo`` with recorders, so even a broken guard sends nothing anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core.testing import NetworkBlockedError, block_network
from ai_core.testing.network import is_local_address


class Reached(Exception):
    """The guard let a call through to the (stubbed) network."""


@pytest.fixture
def no_real_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    reached: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        reached.append(address)
        raise Reached(address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> list[Any]:
        reached.append(host)
        raise Reached(host)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield reached


def test_remote_connect_and_lookup_are_refused(no_real_network: list[Any]) -> None:
    with block_network():
        with socket.socket() as sock, pytest.raises(NetworkBlockedError, match=r"192\.0\.2\.1"):
            sock.connect(("192.0.2.1", 443))
        with socket.socket() as sock, pytest.raises(NetworkBlockedError):
            sock.connect_ex(("192.0.2.7", 80))
        with socket.socket(socket.AF_INET6) as sock, pytest.raises(NetworkBlockedError):
            sock.connect(("2001:db8::1", 443, 0, 0))
        with pytest.raises(NetworkBlockedError, match=r"api\.openai\.com"):
            socket.getaddrinfo("api.openai.com", 443)
    assert no_real_network == []


def test_loopback_passes_through_to_the_real_call(no_real_network: list[Any]) -> None:
    with block_network():
        with socket.socket() as sock, pytest.raises(Reached):
            sock.connect(("127.0.0.1", 9))
        with pytest.raises(Reached):
            socket.getaddrinfo("localhost", 80)
    assert no_real_network == [("127.0.0.1", 9), "localhost"]


def remote_connect() -> None:
    with socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))


@pytest.mark.allow_network  # checks that the network comes back after the block
def test_allow_list_and_lifting_the_guard(no_real_network: list[Any]) -> None:
    with block_network(allow=["db.internal"]):
        with pytest.raises(Reached):
            socket.getaddrinfo("db.internal", 5432)
        with pytest.raises(NetworkBlockedError):
            remote_connect()
    with pytest.raises(Reached):  # outside the block the (stubbed) network is reachable again
        remote_connect()
    assert no_real_network == ["db.internal", ("192.0.2.1", 443)]


@pytest.mark.allow_network  # checks that the network comes back after the block
def test_guards_nest_and_unwind(no_real_network: list[Any]) -> None:
    with block_network():
        with block_network(allow=["192.0.2.1"]), pytest.raises(Reached):
            remote_connect()
        with pytest.raises(NetworkBlockedError):  # the outer guard still holds
            remote_connect()
    with pytest.raises(Reached):
        remote_connect()


def test_a_stub_installed_inside_a_guard_is_left_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard never restores over someone else's patch (pytest's monkeypatch, a fixture)."""

    def stub(self: socket.socket, address: Any) -> None:
        raise Reached(address)

    with block_network():
        monkeypatch.setattr(socket.socket, "connect", stub)
    assert socket.socket.connect is stub
    with block_network(), pytest.raises(NetworkBlockedError):  # the next guard wraps the stub
        remote_connect()


def test_real_loopback_server_still_works() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with block_network(), socket.create_connection(server.getsockname(), timeout=2):
            conn, _ = server.accept()
            conn.close()


@pytest.mark.anyio
async def test_http_driver_to_a_remote_host_fails_with_the_guard_error(no_real_network: list[Any]) -> None:
    """What a test sees when a driver points at the real provider: the guard's error, not a retry."""
    from pydantic import SecretStr

    from ai_core.drivers.base import ProviderConfig
    from ai_core.types import ChatRequest, Message
    from ai_openai.driver import OpenAIDriver

    driver = OpenAIDriver(
        ProviderConfig(provider="openai", api_key=SecretStr("sk-test"), base_url="https://api.openai.com/v1")
    )
    request = ChatRequest(provider="openai", model="gpt-4o-mini", messages=[Message.user("hi")])
    with block_network():
        try:
            with pytest.raises(NetworkBlockedError):
                await driver.send(request)
        finally:
            await driver.aclose()
    assert no_real_network == []


@given(st.ip_addresses(v=4, network="127.0.0.0/8"))
def test_every_ipv4_loopback_is_local(address: ipaddress.IPv4Address) -> None:
    assert is_local_address(str(address))
    assert is_local_address(f"::ffff:{address}")


@given(st.ip_addresses())
def test_non_loopback_addresses_are_remote(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    local = (
        address.is_loopback
        or address.is_unspecified
        or (mapped is not None and (mapped.is_loopback or mapped.is_unspecified))
    )
    assert is_local_address(str(address)) is local
    assert is_local_address(f"[{address}]") is local


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "::1", b"127.0.0.1", None, ""])
def test_local_names(host: object) -> None:
    assert is_local_address(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "169.254.169.254", 42])
def test_remote_names(host: object) -> None:
    assert not is_local_address(host)
