"""Who may see what: loopback without login, tokens elsewhere, tenant tokens see one tenant everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from ai_core.cli import cli
from ai_core.dashboard.access import Viewer, check_bind, is_loopback, tenant_token, viewer_for
from ai_core.errors import ConfigurationError

SECRET = "dashboard-secret-for-tests"


def _get(url: str, token: str | None = None, *, method: str = "GET", host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.10", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigurationError, match="AI_DASHBOARD_TOKEN"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", SECRET)
    check_bind("127.0.0.1", None)


def test_ai_dashboard_refuses_a_public_address_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_DASHBOARD_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["dashboard", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "AI_DASHBOARD_TOKEN" in result.output and "Traceback" not in result.output


def test_tenant_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    token = tenant_token(SECRET, "acme")
    assert viewer_for(token, SECRET) == Viewer(tenant="acme")
    assert viewer_for(SECRET, SECRET) == Viewer()
    assert viewer_for(token, "another secret") is None
    assert viewer_for(None, SECRET) is None
    assert viewer_for("tenant.", SECRET) is None
    with pytest.raises(ConfigurationError, match="AI_DASHBOARD_TOKEN"):
        tenant_token("", "acme")
    monkeypatch.setenv("AI_DASHBOARD_TOKEN", SECRET)
    printed = CliRunner().invoke(cli, ["dashboard", "token", "--tenant", "acme"])
    assert printed.exit_code == 0 and printed.output.strip() == token


@given(tenant=st.text(min_size=1, max_size=40), other=st.text(min_size=1, max_size=40), cut=st.integers(0, 200))
def test_a_tenant_token_cannot_be_turned_into_another(tenant: str, other: str, cut: int) -> None:
    token = tenant_token(SECRET, tenant)
    signature = token.rsplit(".", 1)[1]
    forged = "tenant." + tenant_token("guess", other).removeprefix("tenant.").split(".")[0] + "." + signature
    if other != tenant:
        assert viewer_for(forged, SECRET) is None
    mangled = token[:cut] + token[cut + 1 :]
    assert viewer_for(mangled, SECRET) is None or mangled == token
    assert viewer_for(token + "x", SECRET) is None


def test_tokens_are_required_when_set(seeded, serve) -> None:
    served = serve(seeded.url, token=SECRET)
    assert _get(f"{served.base}/spend")[0] == 401
    assert _get(f"{served.base}/spend", "wrong")[0] == 401
    status, body = _get(f"{served.base}/spend", SECRET)
    assert status == 200 and "Spend" in body and SECRET not in body
    assert _get(f"{served.base}/spend", SECRET, method="POST")[0] == 405
    assert _get(f"{served.base}/spend?token=nope")[0] == 401


def test_without_a_token_only_loopback_names_are_served(seeded, serve) -> None:
    served = serve(seeded.url)
    assert _get(f"{served.base}/spend")[0] == 200
    assert _get(f"{served.base}/spend", host="evil.example:80")[0] == 421  # DNS rebinding
    assert _get(f"{served.base}/spend", method="DELETE")[0] == 405


def test_a_tenant_token_sees_only_its_tenant(seeded, serve, page, shoot) -> None:
    from selenium.webdriver.common.by import By

    served = serve(seeded.url, token=SECRET)
    acme = tenant_token(SECRET, "acme")
    page.get(f"{served.base}/conversations?token={acme}")
    assert "token=" not in page.current_url  # the token went into an HttpOnly cookie
    assert page.find_element(By.ID, "scope").text == "tenant: acme"
    listed = page.find_elements(By.CSS_SELECTOR, "table#conversations td[data-col=id]")
    shown = {cell.text for cell in listed}
    assert {seeded.ids["ann"], seeded.ids["carl"]} <= shown and seeded.ids["bob"] not in shown
    shoot("tenant")

    # By URL, by filter, by search: another tenant's conversation does not exist for this token.
    page.get(f"{served.base}/conversations/{seeded.ids['bob']}")
    assert page.find_element(By.ID, "error").text == "No such conversation."
    assert "merger" not in page.page_source
    page.get(f"{served.base}/conversations?tenant=globex")
    assert seeded.ids["bob"] not in page.page_source
    page.get(f"{served.base}/conversations?q=merger")
    assert seeded.ids["bob"] not in page.page_source and "nothing here" in page.page_source
    page.get(f"{served.base}/spend?by=tenant&tenant=globex")
    tenants = {c.text for c in page.find_elements(By.CSS_SELECTOR, "table#by_key tbody td[data-col=tenant]")}
    assert tenants == {"acme"}

    # Exports, with the token as a header.
    for path in (
        "/conversations?format=json&q=merger",
        "/conversations?format=json&tenant=globex",
        f"/conversations/{seeded.ids['bob']}?format=json",
        "/spend?format=json&by=tag",
        "/failures?format=json&table=recent",
        "/budgets?format=json",
        "/models?format=csv",
    ):
        status, body = _get(served.base + path, acme)
        assert status in (200, 404), path
        assert "globex" not in body and "secret" not in body and seeded.ids["bob"] not in body, path
    status, body = _get(f"{served.base}/spend?format=json&by=tenant", acme)
    assert [row["tenant"] for row in json.loads(body)["rows"]] == ["acme"]
    status, body = _get(f"{served.base}/status", acme)
    assert status == 200 and "ai_core.scale" not in body


def test_the_command_prints_its_url_and_serves(seeded, tmp_path) -> None:
    env = {**os.environ, "AI_DATABASE_URL": seeded.url, "AI_DATA_DIR": str(tmp_path / "data"),
           "AI_CONFIG_FILE": str(tmp_path / "none.toml")}  # fmt: skip
    env.pop("AI_DASHBOARD_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from ai_core.cli import main; main()", "dashboard", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        status, body = _get(f"{found.group(0)}spend")
        assert status == 200 and "Spend" in body
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_without_the_extra_the_command_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    result = CliRunner().invoke(cli, ["dashboard"])
    assert result.exit_code == 1 and 'pip install "ai-core[dashboard]"' in result.output
