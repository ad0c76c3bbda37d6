"""ai-core's pytest plugin (entry point ``pytest11``), loaded by every pytest run
in an environment where ai-core is installed.

So it stays inert and cheap: it imports nothing from ai-core at start-up and
changes nothing unless asked. What it offers:

* ``--ai-block-network`` / ini ``ai_core_block_network = true``: every test runs
  under :func:`ai_core.testing.block_network` (loopback only), except tests
  marked ``allow_network``. ``ai_core_allow_hosts`` lists extra hosts.
* the ``no_network`` marker and fixture: the same guard for chosen tests;
* the ``fake_driver`` (echo :class:`~ai_core.FakeDriver`) and ``ai_fake`` (an
  ``AI`` without persistence wired to ``fake_driver``) fixtures;
* record and replay: ``@pytest.mark.ai_replay("recordings/chat.json")`` answers
  the test's provider calls from that file (relative to the test file), through
  every ``AI`` without a transport of its own; ``--ai-record`` makes real calls
  instead and writes the file (keys scrubbed). The ``ai_recording`` fixture is
  the test's :class:`~ai_core.testing.Recording`;
* plugin scoping: a plugin's tests load core (with its ``fake`` provider) plus
  that plugin, not every plugin installed beside it. The plugins are the ``ai_core`` entry points of
  the project under test (its ``pyproject.toml`` at the rootdir), or the ini
  option ``ai_core_plugins`` (``all`` for every installed one), or, for one
  test, ``@pytest.mark.ai_plugins("name", ...)``. An ``AI_CORE_PLUGINS`` set in
  the environment wins over all of these.

The driver conformance suite itself is a class to subclass,
:class:`ai_core.testing.DriverConformance`, so it runs only where a plugin asks.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.drivers.fake import FakeDriver
    from ai_core.testing.record import Recording

PLUGINS_VARIABLE = "AI_CORE_PLUGINS"
TRANSPORT_VARIABLE = "AI_HTTP_TRANSPORT"
REPLAY_TRANSPORT = "ai_core.testing.record:active_transport"
_MISSING = object()
_saved_plugins = pytest.StashKey[object]()
_test_state = pytest.StashKey[dict[str, Any]]()


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
    group.addoption(
        "--ai-record",
        action="store_true",
        default=False,
        help="ai-core: record the provider calls of tests marked ai_replay (real calls, real keys) instead of "
        "replaying them.",
    )
    parser.addini(
        "ai_core_plugins",
        "ai-core: the plugins tests load besides core ('all': every installed one); default: the ai_core entry "
        "points of the project's pyproject.toml",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_network: ai-core refuses non-loopback network access in this test")
    config.addinivalue_line("markers", "allow_network: exempt this test from --ai-block-network")
    config.addinivalue_line(
        "markers",
        "ai_replay(path, match=('method', 'path', 'body')): ai-core replays this test's provider calls from the "
        "recording at path (relative to the test file); --ai-record records them",
    )
    config.addinivalue_line(
        "markers", "ai_plugins(*names): ai-core loads these plugins (besides core) in this test; 'all' for every one"
    )
    wanted = _plugins_under_test(config)
    if wanted is not None and PLUGINS_VARIABLE not in os.environ:
        config.stash[_saved_plugins] = _MISSING
        os.environ[PLUGINS_VARIABLE] = wanted


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_saved_plugins, None) is _MISSING:
        os.environ.pop(PLUGINS_VARIABLE, None)


def _plugins_under_test(config: pytest.Config) -> str | None:
    """What ``AI_CORE_PLUGINS`` should be for this run; ``None`` to leave it alone."""
    named = [str(name) for name in config.getini("ai_core_plugins")]
    if named:
        return None if named in (["all"], ["*"]) else " ".join(named)
    return _declared_plugins(config.rootpath / "pyproject.toml")


def _declared_plugins(pyproject: Path) -> str | None:
    """The ``ai_core`` entry-point names a project declares, or ``None``."""
    if not pyproject.is_file():
        return None
    import tomllib

    try:
        with pyproject.open("rb") as file:
            project = tomllib.load(file).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    names = sorted((project.get("entry-points", {}) or {}).get("ai_core", {}) or {})
    # Core's own fake provider comes too: it is part of core, and the default model.
    return " ".join(dict.fromkeys(["fake", *names])) if names else None


def _allowed_hosts(config: pytest.Config) -> list[str]:
    return [str(host) for host in config.getini("ai_core_allow_hosts")]


def _guard_for(item: pytest.Item) -> AbstractContextManager[None]:
    config = item.config
    recording = config.getoption("--ai-record") and item.get_closest_marker("ai_replay") is not None
    wanted = item.get_closest_marker("no_network") is not None or (
        (config.getoption("--ai-block-network") or config.getini("ai_core_block_network"))
        and item.get_closest_marker("allow_network") is None
        and not recording  # recording means calling the real provider
    )
    if not wanted:
        return nullcontext()
    from ai_core.testing.network import block_network

    return block_network(allow=_allowed_hosts(config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    _enter_markers(item)
    with _guard_for(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    with _guard_for(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    try:
        with _guard_for(item):
            return (yield)
    finally:
        _leave_markers(item)


def _set_env(state: dict[str, Any], name: str, value: str | None) -> None:
    state.setdefault("env", {}).setdefault(name, os.environ.get(name))
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _enter_markers(item: pytest.Item) -> None:
    """Apply ``ai_plugins`` and ``ai_replay`` for one test (undone by :func:`_leave_markers`)."""
    plugins = item.get_closest_marker("ai_plugins")
    replay = item.get_closest_marker("ai_replay")
    if plugins is None and replay is None:
        return
    state: dict[str, Any] = {}
    item.stash[_test_state] = state
    if plugins is not None:
        from ai_core.plugins import reset_default_registry

        names = [str(name) for name in plugins.args]
        _set_env(state, PLUGINS_VARIABLE, "all" if "all" in names else " ".join(names))
        reset_default_registry()
        state["registry"] = True
    if replay is not None:
        from ai_core.testing.record import Recording, RecordingError, activate

        if not replay.args:
            pytest.fail(f"{item.nodeid}: @pytest.mark.ai_replay needs the recording's path", pytrace=False)
        path = Path(str(replay.args[0]))
        if not path.is_absolute():
            path = Path(str(item.path)).parent / path
        try:
            recording = Recording(
                path,
                mode="record" if item.config.getoption("--ai-record") else "replay",
                **({"match": replay.kwargs["match"]} if "match" in replay.kwargs else {}),
            )
        except RecordingError as exc:
            pytest.fail(str(exc), pytrace=False)
        state["recording"] = recording
        state["previous_recording"] = activate(recording)
        _set_env(state, TRANSPORT_VARIABLE, REPLAY_TRANSPORT)


def _leave_markers(item: pytest.Item) -> None:
    state = item.stash.get(_test_state, None)
    if state is None:
        return
    del item.stash[_test_state]
    for name, value in state.get("env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if "recording" in state:
        from ai_core.testing.record import activate

        activate(state["previous_recording"])
        state["recording"].save()
    if state.get("registry"):
        from ai_core.plugins import reset_default_registry

        reset_default_registry()


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


@pytest.fixture
def ai_recording(request: pytest.FixtureRequest) -> Recording:
    """The :class:`~ai_core.testing.Recording` of a test marked ``ai_replay``
    (to pass ``{"transport": ai_recording.transport}`` explicitly, or to check
    ``ai_recording.unplayed``)."""
    state = request.node.stash.get(_test_state, None)
    if state is None or "recording" not in state:
        pytest.fail("the ai_recording fixture needs @pytest.mark.ai_replay(path) on the test", pytrace=False)
    recording: Recording = state["recording"]
    return recording
