"""Fixtures for the dashboard: a seeded ledger, the app served on 127.0.0.1, and one headless Chromium.

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


@pytest.fixture
def seeded(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:  # noqa: F811
    """A ledger written by the real pipeline (fake provider): two tenants, users, tags, a tool call, a failure."""
    from ai_core.app import AI
    from ai_core.errors import ProviderUnavailableError

    monkeypatch.setenv("AI_DATABASE_URL", database_url)
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("AI_DASHBOARD_TOKEN", raising=False)
    seed = Seeded(url=database_url)
    with AI(persistence=True, database_url=database_url, budgets=[BUDGET]) as ai:
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


@dataclass
class Served:
    base: str
    database: Any
    stop: Callable[[], None]


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Serve ``create_app(...)`` on 127.0.0.1 (a free port) in a thread; stopped at the end of the test."""
    import uvicorn

    from ai_core.budgets.model import parse_budgets
    from ai_core.dashboard.app import create_app
    from ai_core.storage.database import Database

    running: list[Served] = []

    def start(url: str, *, token: str | None = None) -> Served:
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

        served = Served(f"http://127.0.0.1:{sock.getsockname()[1]}", db, stop)
        running.append(served)
        return served

    yield start
    for served in running:
        served.stop()


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
def shoot(browser: Any, tmp_path: Path, db_backend: str) -> Callable[[str], Path]:  # noqa: F811
    """Save a screenshot of the current page under the test's output (and docs/img with AI_DASHBOARD_DOCS_IMG=1)."""

    def save(name: str) -> Path:
        path = tmp_path / f"dashboard-{name}-{db_backend}.png"
        browser.save_screenshot(str(path))
        if os.environ.get("AI_DASHBOARD_DOCS_IMG") == "1" and db_backend == "sqlite":
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_IMG / f"dashboard-{name}.png")
        return path

    return save
