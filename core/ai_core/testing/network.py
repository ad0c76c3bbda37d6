"""A guard that refuses real network traffic while tests run.

A test suite that talks to a real provider by accident spends money, leaks a
key into someone's logs and fails at random when the network does. Inside
:func:`block_network` every socket ``connect`` to an address that is not on
this machine raises :class:`NetworkBlockedError`, and so does resolving a host
name other than ``localhost``: a DNS query is traffic too. Loopback servers
(local doubles, a PostgreSQL started by a fixture) and Unix sockets keep
working.

The guard wraps ``socket.socket.connect``/``connect_ex`` and
``socket.getaddrinfo`` (looked up at call time by httpx, aiohttp, anyio, trio
and asyncio alike) on first use and leaves the wrappers in place; they refuse
only while a guard is active. Never unpatching is what makes the guard
compose with ``monkeypatch``: a test that swaps ``connect`` for a stub gets its
stub back untouched, and the next guard wraps the stub. Guards nest and may be
entered from several threads.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["NetworkBlockedError", "block_network", "is_local_address"]

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_lock = threading.Lock()


class NetworkBlockedError(RuntimeError):
    """A test tried to reach a host that is not this machine.

    Deliberately not an :class:`OSError`: HTTP clients turn those into
    "connection failed" errors that drivers retry and tests might expect,
    while this must surface as what it is, a test bug.
    """

    def __init__(self, target: object) -> None:
        super().__init__(
            f"network access blocked in tests: attempted to reach {target!r}. Point the driver at a local "
            "double (127.0.0.1) or a FakeDriver; allow a host with block_network(allow=[...]) "
            "or the ai_core_allow_hosts ini option."
        )
        self.target = target


def is_local_address(host: object, allow: Iterable[str] = ()) -> bool:
    """True for loopback addresses, ``localhost`` names and hosts in ``allow``."""
    if host is None:
        return True  # getaddrinfo(None, port) means "this machine"
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0]
    if name == "" or name.lower() in _LOCAL_NAMES or name in set(allow):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


_MARK = "_ai_core_network_guard"
_active: list[tuple[str, ...]] = []  # one allow-list per guard currently entered


def _blocked(host: object) -> bool:
    with _lock:
        if not _active:
            return False
        allowed = [name for hosts in _active for name in hosts]
    return not is_local_address(host, allowed)


def _wrap_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) and address else address
            if _blocked(host):
                raise NetworkBlockedError(address)
        return original(self, address, *args, **kwargs)

    setattr(connect, _MARK, True)
    return connect


def _wrap_resolver(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _blocked(host):
            raise NetworkBlockedError(host)
        return original(host, *args, **kwargs)

    setattr(getaddrinfo, _MARK, True)
    return getaddrinfo


def _install() -> None:
    """Wrap whatever is in place now, unless it is already our wrapper."""
    if not getattr(socket.socket.connect, _MARK, False):
        socket.socket.connect = _wrap_connect(socket.socket.connect)  # type: ignore[method-assign]
    if not getattr(socket.socket.connect_ex, _MARK, False):
        socket.socket.connect_ex = _wrap_connect(socket.socket.connect_ex)  # type: ignore[method-assign]
    if not getattr(socket.getaddrinfo, _MARK, False):
        socket.getaddrinfo = _wrap_resolver(socket.getaddrinfo)


@contextmanager
def block_network(allow: Iterable[str] = ()) -> Iterator[None]:
    """Refuse non-local connects and name lookups inside the ``with`` block.

    :param allow: extra host names or addresses to let through (e.g. a
        database host in a container network).
    """
    hosts = tuple(allow)
    with _lock:
        _install()
        _active.append(hosts)
    try:
        yield
    finally:
        with _lock:
            _active.remove(hosts)
