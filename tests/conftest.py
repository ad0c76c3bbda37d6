"""Shared fixtures: both anyio backends, and strict skips in CI.

``python3 dev.py test`` runs the suite on pytest-xdist workers: each worker is its own process
with its own session fixtures (servers on free ports, temporary directories), and the hooks
below run in the workers, whose reports reach the controller already turned into failures.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import settings

# The servers and files that every directory shares, defined here once. A conftest that imports
# ``postgres_server``, ``sqlite_template`` or ``redis_server`` from tests/support gets a session
# fixture of its own under that name; these, which hold the real thing, exist once per session.
from support.db_fixtures import _sqlite_template_session  # noqa: F401
from support.postgres import _postgres_server_session  # noqa: F401
from support.redis_server import _redis_server_session  # noqa: F401

# Hypothesis's per-example deadline (200 ms) measures the machine, not the code: on CI's two
# cores shared by two workers and the servers, a parser example can take longer and fail as
# DeadlineExceeded. Speed is measured in benchmarks/, never in tests.
settings.register_profile("ai-core", deadline=None)
settings.load_profile("ai-core")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _strict() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("AI_CORE_STRICT_SKIPS") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """In CI a skip is a failure: a missing server program must never pass silently."""
    outcome = yield
    report = outcome.get_result()
    if _strict() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    """The same for a whole module skipped while it is collected (``pytest.skip(allow_module_level=True)``)."""
    outcome = yield
    report = outcome.get_result()
    if _strict() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"


@pytest.fixture(autouse=True)
def _secrets_remembered_by_one_test_only() -> Generator[None, None, None]:
    """A key a test registers (or a string hypothesis draws and stores as a credential) must never
    blank text in a later test: redaction forgets it when the test ends."""
    from ai_core.redaction import isolated_secrets

    with isolated_secrets():
        yield
