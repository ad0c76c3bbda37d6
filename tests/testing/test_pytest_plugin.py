"""The pytest plugin: inert by default, a network guard when asked, light to load."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import ai_core.testing.network
import pytest
from ai_core.testing import NetworkBlockedError

# inline_run forgets modules first imported inside it; importing these here keeps
# one NetworkBlockedError class for the plugin's guard and the inner tests.
assert ai_core.testing.network.NetworkBlockedError is NetworkBlockedError

pytest_plugins = ["pytester"]

PROBE = """
import socket
import pytest
from ai_core.testing import NetworkBlockedError

def probe():
    with socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))

def test_plain():
    with pytest.raises(NetworkBlockedError):
        probe()

@pytest.mark.no_network
def test_marked():
    with pytest.raises(NetworkBlockedError):
        probe()

@pytest.mark.allow_network
def test_allowed():
    with pytest.raises(NetworkBlockedError):
        probe()

def test_fixture(no_network):
    with pytest.raises(NetworkBlockedError):
        probe()
"""


@pytest.fixture
def stubbed_connect(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace the real connect first, so a guard that fails reaches nothing."""
    reached: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        reached.append(address)
        raise ConnectionRefusedError("stubbed: no traffic in tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return reached


def _outcomes(result: pytest.HookRecorder) -> dict[str, str]:
    outcomes = {}
    for report in result.getreports("pytest_runtest_logreport"):
        if report.when == "call":
            outcomes[report.nodeid.split("::")[-1]] = report.outcome
    return outcomes


def test_inert_by_default_marker_and_fixture_still_guard(pytester: pytest.Pytester, stubbed_connect: list[Any]) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.inline_run("-p", "no:cacheprovider", "--strict-markers")  # the markers are registered
    assert _outcomes(result) == {"test_plain": "failed", "test_marked": "passed", "test_allowed": "failed", "test_fixture": "passed"}
    assert stubbed_connect == [("192.0.2.1", 443), ("192.0.2.1", 443)]  # only the unguarded tests reached the stub


def test_option_guards_every_test_except_allow_network(pytester: pytest.Pytester, stubbed_connect: list[Any]) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.inline_run("-p", "no:cacheprovider", "--ai-block-network")
    assert _outcomes(result) == {"test_plain": "passed", "test_marked": "passed", "test_allowed": "failed", "test_fixture": "passed"}
    assert stubbed_connect == [("192.0.2.1", 443)]


def test_ini_setting_and_allowed_hosts(pytester: pytest.Pytester, stubbed_connect: list[Any]) -> None:
    pytester.makeini("[pytest]\nai_core_block_network = true\nai_core_allow_hosts = 192.0.2.1\n")
    pytester.makepyfile(
        test_ini="""
import socket
import pytest
from ai_core.testing import NetworkBlockedError

def test_allowed_host_reaches_the_stub():
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 443))

def test_other_host_is_blocked():
    with socket.socket() as sock, pytest.raises(NetworkBlockedError):
        sock.connect(("192.0.2.2", 443))
"""
    )
    result = pytester.inline_run("-p", "no:cacheprovider")
    result.assertoutcome(passed=2)


def test_guard_covers_fixture_setup(pytester: pytest.Pytester, stubbed_connect: list[Any]) -> None:
    pytester.makepyfile(
        test_setup="""
import socket
import pytest

@pytest.fixture
def remote():
    with socket.socket() as sock:
        sock.connect(("192.0.2.1", 443))

def test_uses_remote(remote):
    pass
"""
    )
    result = pytester.inline_run("-p", "no:cacheprovider", "--ai-block-network")
    reports = [r for r in result.getreports("pytest_runtest_logreport") if r.when == "setup"]
    assert reports and reports[0].failed and "network access blocked" in str(reports[0].longrepr)
    assert stubbed_connect == []


def test_loading_the_plugin_imports_no_heavy_module() -> None:
    """pytest loads the plugin in every run where ai-core is installed: it must stay cheap."""
    code = (
        "import sys, ai_core.testing.pytest_plugin as p;"
        "heavy = [m for m in ('httpx2', 'httpx', 'sqlalchemy', 'pydantic', 'anyio', 'ai_core.app', 'ai_core.drivers')"
        " if m in sys.modules];"
        "print(heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert output == "[]"
