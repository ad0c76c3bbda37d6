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


# -- record and replay: the ai_replay marker ------------------------------------------------

TESTS_DIR = str(__import__("pathlib").Path(__file__).resolve().parents[1])

REPLAYED = f"""
import sys
import pytest
sys.path.insert(0, {TESTS_DIR!r})
from servers.openai_compat import Completion, running_server
from ai_core.app import AI

KEY = "sk-marker-0123456789abcdefXYZ"


@pytest.fixture
def base_url(request):
    if request.config.getoption("--ai-record"):
        with running_server(api_keys={{KEY}}) as server:
            server.reply(Completion(text="Recorded hello.", chunk_size=3))
            yield server.base_url
    else:
        yield "http://127.0.0.1:9/v1"  # nothing listens there: a replay must not connect


@pytest.mark.ai_replay("recordings/hello.json")
def test_hello(base_url, ai_recording):
    ai = AI(persistence=False, providers={{"openai": {{"api_key": KEY, "base_url": base_url, "retry_attempts": 0}}}})
    try:
        assert ai.conversation("openai/gpt-4o-mini").user("hi").send().text == "Recorded hello."
    finally:
        ai.close()
    assert ai_recording.mode == "record" or ai_recording.unplayed == []


def test_unmarked_tests_use_the_real_transport():
    import os
    assert "AI_HTTP_TRANSPORT" not in os.environ
"""


def test_ai_replay_records_with_ai_record_then_replays_offline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_replayed=REPLAYED)
    missing = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--strict-markers")
    assert "no recording at" in missing.stdout.str() and "pytest --ai-record" in missing.stdout.str()
    missing.assert_outcomes(passed=1, errors=1)

    recorded = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--ai-record", "--ai-block-network")
    recorded.assert_outcomes(passed=2)
    recording = pytester.path / "recordings" / "hello.json"
    assert "Recorded hello" in recording.read_text() and "sk-marker-0123456789abcdefXYZ" not in recording.read_text()

    replayed = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "--ai-block-network")
    replayed.assert_outcomes(passed=2)


# -- plugin scoping: core plus the plugin under test ---------------------------------------

SCOPED = """
import os
import pytest
from ai_core import default_registry


def names():
    return sorted(default_registry().plugin_names())


def test_session():
    print("\\nSESSION", os.environ.get("AI_CORE_PLUGINS"), names())


@pytest.mark.ai_plugins("xai")
def test_marked():
    print("\\nMARKED", os.environ.get("AI_CORE_PLUGINS"), names())


def test_after():
    print("\\nAFTER", os.environ.get("AI_CORE_PLUGINS"), names())
"""

PLUGIN_PROJECT = """
[project]
name = "ai-openai-under-test"
version = "0"

[project.entry-points.ai_core]
openai = "ai_openai.plugin"
"""


def _seen(result: pytest.RunResult) -> dict[str, str]:
    found = {}
    for line in result.outlines:
        for label in ("SESSION", "MARKED", "AFTER"):
            if line.startswith(label + " "):
                found[label] = line[len(label) + 1 :]
    return found


@pytest.fixture
def scoped(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("AI_CORE_PLUGINS", raising=False)
    monkeypatch.delenv("AI_PLUGINS", raising=False)
    monkeypatch.setenv("AI_CONFIG_FILE", str(pytester.path / "absent.toml"))
    pytester.makepyfile(test_scoped=SCOPED)
    return pytester


def test_a_plugin_project_sees_core_and_itself(scoped: pytest.Pytester) -> None:
    scoped.makefile(".toml", pyproject=PLUGIN_PROJECT)
    result = scoped.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=3)
    assert _seen(result) == {
        "SESSION": "fake openai ['core', 'fake', 'openai']",
        "MARKED": "xai ['core', 'xai']",  # a test asks for more (or other) plugins with the marker
        "AFTER": "fake openai ['core', 'fake', 'openai']",  # and the next test is back to the project's own
    }


def test_the_ini_option_and_the_environment_choose_instead(scoped: pytest.Pytester) -> None:
    scoped.makefile(".toml", pyproject=PLUGIN_PROJECT + '\n[tool.pytest.ini_options]\nai_core_plugins = ["all"]\n')
    every = _seen(scoped.runpytest_subprocess("-p", "no:cacheprovider", "-s"))["SESSION"]
    assert every.startswith("None [") and "'xai'" in every and "'gemini'" in every

    scoped.makefile(".toml", pyproject=PLUGIN_PROJECT)
    import os

    os.environ["AI_CORE_PLUGINS"] = "xai"  # removed by the fixture's monkeypatch (delenv recorded it)
    try:
        assert _seen(scoped.runpytest_subprocess("-p", "no:cacheprovider", "-s"))["SESSION"] == "xai ['core', 'xai']"
    finally:
        del os.environ["AI_CORE_PLUGINS"]


def test_a_project_that_is_no_plugin_is_left_alone(scoped: pytest.Pytester) -> None:
    scoped.makefile(".toml", pyproject='[project]\nname = "an-app"\nversion = "0"\n')
    session = _seen(scoped.runpytest_subprocess("-p", "no:cacheprovider", "-s"))["SESSION"]
    assert session.startswith("None [") and "'openai'" in session and "'xai'" in session
