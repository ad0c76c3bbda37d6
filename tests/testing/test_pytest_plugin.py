"""The pytest plugin: inert by default, a network guard when asked, light to load.

Inner pytest runs go to a subprocess: an in-process run forgets the modules it
imported first, which would leave this session with two copies of some.
The inner conftest replaces the real ``connect`` with a stub before any test,
so a guard that fails reaches nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

STUB_CONFTEST = """
import socket

def _stub(self, address):
    raise ConnectionRefusedError(f"stubbed connect to {address!r}: no traffic in tests")

def pytest_configure(config):
    socket.socket.connect = _stub
"""

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

@pytest.fixture
def remote_in_setup():
    probe()

def test_setup_is_guarded_too(remote_in_setup):
    pass

def test_allowed_host():
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="stubbed"):
        sock.connect(("192.0.2.9", 443))
"""


def _outcomes(result: pytest.RunResult) -> dict[str, str]:
    """test name -> PASSED/FAILED/ERROR, from the ``-rA`` summary."""
    found: dict[str, str] = {}
    for line in result.outlines:
        match = re.match(r"(PASSED|FAILED|ERROR) test_probe\.py::(\w+)", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


@pytest.fixture
def probe(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(STUB_CONFTEST)
    pytester.makepyfile(test_probe=PROBE)
    return pytester


def test_inert_by_default_while_marker_and_fixture_guard(probe: pytest.Pytester) -> None:
    result = probe.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--strict-markers")  # markers registered
    assert _outcomes(result) == {
        "test_plain": "FAILED",
        "test_marked": "PASSED",
        "test_allowed": "FAILED",
        "test_fixture": "PASSED",
        "test_setup_is_guarded_too": "ERROR",
        "test_allowed_host": "PASSED",
    }


def test_option_guards_setup_and_every_test_but_allow_network(probe: pytest.Pytester) -> None:
    result = probe.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--ai-block-network")
    assert _outcomes(result) == {
        "test_plain": "PASSED",
        "test_marked": "PASSED",
        "test_allowed": "FAILED",
        "test_fixture": "PASSED",
        "test_setup_is_guarded_too": "ERROR",
        "test_allowed_host": "FAILED",
    }
    assert "NetworkBlockedError: network access blocked in tests" in result.stdout.str()


def test_ini_setting_with_allowed_hosts(probe: pytest.Pytester) -> None:
    probe.makeini("[pytest]\nai_core_block_network = true\nai_core_allow_hosts = 192.0.2.9\n")
    result = probe.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    outcomes = _outcomes(result)
    assert outcomes["test_plain"] == "PASSED" and outcomes["test_allowed_host"] == "PASSED"


def test_loading_the_plugin_imports_no_heavy_module() -> None:
    """pytest loads the plugin in every run where ai-core is installed: it must stay cheap."""
    code = (
        "import sys, ai_core.testing.pytest_plugin;"
        "print([m for m in ('httpx2', 'httpx', 'sqlalchemy', 'pydantic', 'anyio', 'ai_core.app', 'ai_core.drivers')"
        " if m in sys.modules])"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert output == "[]"
