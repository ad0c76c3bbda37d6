"""Fixtures for the dashboard: a seeded ledger, the app served on 127.0.0.1, and one headless Chromium,
each made once per session (per backend) and shared by the tests, which only read.

The browser is Debian's Chromium driven by its chromedriver through Selenium
(never a downloaded browser), started once per session with a fresh profile;
a missing program skips the browser tests with a message naming it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.db_fixtures import database, database_url, db_backend, postgres_server, sqlite_template  # noqa: F401

CHROMIUM = Path(os.environ.get("AI_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("AI_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
BUDGET = {"limit": "1", "scope": "tenant", "period": "monthly", "name": "tenant-monthly"}
PASTED_KEY = "sk-live1234567890abcdefXYZ"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@dataclass
class Seeded:
    """What the seed wrote: conversation ids by name, and the costs the replies reported."""

    url: str
    ids: dict[str, str] = field(default_factory=dict)
    costs: dict[str, Decimal] = field(default_factory=dict)


def lookup_order() -> str:
    """Look the order up (a tool the fake model calls)."""
    return "order 42 shipped"


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded_backend(request: pytest.FixtureRequest) -> str:
    """The backend of the session's seeded ledger (one per backend, shared by the page tests)."""
    return str(request.param)


@pytest.fixture(scope="session")
def make_database(
    seeded_backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """``make(copy_of=None)``: the URL of a new database of the session's backend with the
    current schema, empty or a copy of ``copy_of`` (a database made here, closed). Each is this
    session's own (a file, or a PostgreSQL database dropped at the end), so xdist workers never
    share one; copies cost a file copy or a ``CREATE DATABASE ... TEMPLATE``, not a migration."""
    from ai_core.storage.database import Database

    made: list[str] = []
    if seeded_backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        directory = tmp_path_factory.mktemp("dashboard-databases")

        def make_sqlite(copy_of: str | None = None) -> str:
            path = directory / f"ai-core-{len(made)}.db"
            shutil.copyfile(copy_of.removeprefix("sqlite:///") if copy_of else template, path)
            made.append(str(path))
            return f"sqlite:///{path}"

        yield make_sqlite
        return
    server = request.getfixturevalue("postgres_server")
    empty = server.create_database()
    Database.open(server.url(empty), migrate=True).close()

    def make_postgres(copy_of: str | None = None) -> str:
        name = server.create_database(template=copy_of.rsplit("/", 1)[1] if copy_of else empty)
        made.append(name)
        return str(server.url(name))

    try:
        yield make_postgres
    finally:
        for name in [*made, empty]:
            server.drop_database(name)


@pytest.fixture(scope="session")
def seeded_ledger(make_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A ledger written by the real pipeline (fake provider), once per session and backend: two
    tenants, users, tags, a tool call, a failure. The tests only read it (the dashboard's rollup
    tables aside, which it fills the same whoever asks first)."""
    url = make_database()
    with pytest.MonkeyPatch.context() as patch:
        _environment(patch, url, tmp_path_factory.mktemp("dashboard-seed"))
        yield _seed(url)


def _environment(patch: pytest.MonkeyPatch, url: str, directory: Path) -> None:
    patch.setenv("AI_DATABASE_URL", url)
    patch.setenv("AI_DATA_DIR", str(directory / "data"))
    patch.setenv("AI_CONFIG_FILE", str(directory / "none.toml"))
    patch.delenv("AI_DASHBOARD_TOKEN", raising=False)


def _seed(url: str) -> Seeded:
    from ai_core.app import AI
    from ai_core.errors import ProviderUnavailableError

    seed = Seeded(url=url)
    with AI(persistence=True, database_url=url, budgets=[BUDGET]) as ai:
        ann = ai.conversation("fake/echo", user="ann", tenant="acme", tags=("support", "red"))
        first = ann.user("Where is my parcel?").send()
        second = ann.user("Please look up order 42").tool(lookup_order).tool_choice("required").send()
        seed.ids["ann"] = first.conversation_id
        seed.costs["ann"] = first.cost.total + second.cost.total
        carl = ai.conversation("fake/echo", user="carl", tenant="acme")
        carl = carl.user(f"Quarterly report, please; my key is {PASTED_KEY}").send()
        seed.ids["carl"], seed.costs["carl"] = carl.conversation_id, carl.cost.total
        bob = ai.conversation("fake/echo", user="bob", tenant="globex", tags=("secret",))
        seed.ids["bob"] = bob.user("globex confidential merger plans").send().conversation_id
        failing = ai.conversation("fake/echo", user="ann", tenant="acme").user("this one fails")
        with pytest.raises(ProviderUnavailableError):
            failing.option("fake_error", "unavailable").option("retry_attempts", 0).send()
    return seed


@pytest.fixture
def seeded(seeded_ledger: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """The session's seeded ledger, with this test's environment pointing at it (for `ai usage`)."""
    _environment(monkeypatch, seeded_ledger.url, tmp_path)
    return seeded_ledger


@dataclass
class Served:
    base: str
    database: Any
    stop: Callable[[], None]


def _start(url: str, token: str | None) -> Served:
    """Serve ``create_app(...)`` on 127.0.0.1 (a free port) in a thread."""
    import uvicorn

    from ai_core.budgets.model import parse_budgets
    from ai_core.dashboard.app import create_app
    from ai_core.storage.database import Database

    db = Database.open(url, migrate=False)
    app = create_app(db, token=token, budgets=parse_budgets([BUDGET]), database_text=db.display_url)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(30)
        sock.close()
        db.close()

    return Served(f"http://127.0.0.1:{sock.getsockname()[1]}", db, stop)


@pytest.fixture(scope="session")
def _servers() -> Iterator[dict[tuple[str, str | None], Served]]:
    running: dict[tuple[str, str | None], Served] = {}
    yield running
    for served in running.values():
        served.stop()


@pytest.fixture
def serve(_servers: dict[tuple[str, str | None], Served]) -> Callable[..., Served]:
    """The dashboard over ``url`` (with ``token``), started once per session: pages only read,
    so tests share it (the browser's cookies are cleared per test by ``page``)."""

    def start(url: str, *, token: str | None = None) -> Served:
        if (url, token) not in _servers:
            _servers[(url, token)] = _start(url, token)
        return _servers[(url, token)]

    return start


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the whole session (a fresh profile, no network but 127.0.0.1)."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            pytest.skip(f"{program} is missing (install Debian's chromium and chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (python3 dev.py setup installs it)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: Any) -> Any:
    """The session's browser with no cookies left by an earlier test (cookies ignore ports)."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return browser


@pytest.fixture
def shoot(browser: Any, tmp_path: Path, seeded_backend: str) -> Callable[[str], Path]:
    """Save a screenshot of the current page under the test's output (and docs/img with AI_DASHBOARD_DOCS_IMG=1)."""

    def save(name: str) -> Path:
        path = tmp_path / f"dashboard-{name}-{seeded_backend}.png"
        browser.save_screenshot(str(path))
        if os.environ.get("AI_DASHBOARD_DOCS_IMG") == "1" and seeded_backend == "sqlite":
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_IMG / f"dashboard-{name}.png")
        return path

    return save
