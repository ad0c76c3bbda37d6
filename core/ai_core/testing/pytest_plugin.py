"""ai-core's pytest plugin (entry point ``pytest11``), loaded by every pytest run
in an environment where ai-core is installed.

So it stays inert and cheap: it imports nothing from ai-core at start-up and
changes nothing unless asked. What it offers:

* ``--ai-block-network`` / ini ``ai_core_block_network = true``: every test runs
  under :func:`ai_core.testing.block_network` (loopback only), except tests
  marked ``allow_network``. ``ai_core_allow_hosts`` lists extra hosts.
* the ``no_network`` marker and fixture: the same guard for chosen tests;
* the ``fake_driver`` (echo :class:`~ai_core.FakeDriver`) and ``ai_fake`` (an
  ``AI`` without persistence wired to ``fake_driver``) fixtures.

The driver conformance suite itself is a class to subclass,
:class:`ai_core.testing.DriverConformance`, so it runs only where a plugin asks.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.drivers.fake import FakeDriver


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ai-core")
    group.addoption(
        "--ai-block-network",
        action="store_true",
        default=False,
        help="ai-core: refuse every non-loopback connection and DNS lookup in tests.",
    )
    parser.addini(
        "ai_core_block_network", "ai-core: block non-loopback network in every test", type="bool", default=False
    )
    parser.addini("ai_core_allow_hosts", "ai-core: hosts the network guard lets through", type="args", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_network: ai-core refuses non-loopback network access in this test")
    config.addinivalue_line("markers", "allow_network: exempt this test from --ai-block-network")


def _allowed_hosts(config: pytest.Config) -> list[str]:
    return [str(host) for host in config.getini("ai_core_allow_hosts")]


def _guard_for(item: pytest.Item) -> AbstractContextManager[None]:
    config = item.config
    wanted = item.get_closest_marker("no_network") is not None or (
        (config.getoption("--ai-block-network") or config.getini("ai_core_block_network"))
        and item.get_closest_marker("allow_network") is None
    )
    if not wanted:
        return nullcontext()
    from ai_core.testing.network import block_network

    return block_network(allow=_allowed_hosts(config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    with _guard_for(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    with _guard_for(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    with _guard_for(item):
        return (yield)


@pytest.fixture
def no_network(request: pytest.FixtureRequest) -> Iterator[None]:
    """Refuse non-loopback connections and DNS lookups for this test."""
    from ai_core.testing.network import block_network

    with block_network(allow=_allowed_hosts(request.config)):
        yield


@pytest.fixture
def fake_driver() -> FakeDriver:
    """An echo fake (``"Echo: <last user text>"``); ``fake_driver.calls`` records requests."""
    from ai_core.testing.fakes import make_fake

    return make_fake()


@pytest.fixture
def ai_fake(fake_driver: FakeDriver) -> Iterator[AI]:
    """An ``AI`` without persistence whose ``fake`` provider is ``fake_driver``."""
    from ai_core.testing.fakes import fake_ai

    ai = fake_ai(fake_driver)
    try:
        yield ai
    finally:
        ai.close()
