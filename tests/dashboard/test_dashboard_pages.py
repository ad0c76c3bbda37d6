"""Every page in a real headless Chromium, on SQLite and PostgreSQL, against a ledger the pipeline wrote.

The numbers read off the pages are compared with `ai usage --json` and with
the costs the replies reported; screenshots of each page are saved under the
test's output directory.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

from ai_core.cli import cli

PASTED_KEY = "sk-live1234567890abcdefXYZ"  # in carl's prompt (conftest.py's seed)


def _usage(by: str, since: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["usage", "--by", by, "--since", since, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.output)
    return payload


_CELLS = """
return Array.from(document.querySelectorAll(arguments[0]), (tr) => Object.fromEntries(
    Array.from(tr.querySelectorAll("td[data-col]"), (td) => [td.getAttribute("data-col"), td.innerText.trim()])
));
"""
"""Each row's cells by column, as the browser renders them: one round trip per table, not two per cell."""


def _table(browser: Any, table_id: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = browser.execute_script(_CELLS, f"table#{table_id} tbody tr")
    return rows


def _total(browser: Any, table_id: str) -> dict[str, str]:
    total: dict[str, str] = {}
    for row in browser.execute_script(_CELLS, f"table#{table_id} tfoot tr"):
        total.update(row)
    return total


def _since() -> str:
    return (datetime.now(UTC).date() - timedelta(days=29)).isoformat()


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _failed_attempts(url: str) -> int:
    from sqlalchemy import func, select

    from ai_core.storage.conversation_tables import FailedAttempt
    from ai_core.storage.database import Database

    with Database.open(url, migrate=False) as database, database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(FailedAttempt)).scalar_one())


@pytest.mark.parametrize("by", ["provider", "model", "user", "tenant", "tag"])
def test_spend_equals_ai_usage_json(seeded, serve, page, shoot, by: str) -> None:
    from selenium.webdriver.common.by import By

    served = serve(seeded.url)
    since = _since()
    page.get(f"{served.base}/spend?since={since}&by={by}")
    usage = _usage(by, since)
    shown = {row[by]: row for row in _table(page, "by_key")}
    expected = {("" if r[by] is None else r[by]): r for r in usage["rows"]}
    assert set(shown) == set(expected) and expected
    for key, row in expected.items():
        assert Decimal(shown[key]["cost"]) == Decimal(row["cost"])
        assert _int(shown[key]["requests"]) == row["requests"]
        assert _int(shown[key]["input_tokens"]) == row["input_tokens"]
        assert _int(shown[key]["output_tokens"]) == row["output_tokens"]
    assert Decimal(page.find_element(By.ID, "total-cost").text) == Decimal(usage["total"]["cost"])
    assert _int(page.find_element(By.ID, "total-requests").text) == usage["total"]["requests"]
    assert Decimal(_total(page, "by_key")["cost"]) == Decimal(usage["total"]["cost"])
    if by == "tenant":
        assert Decimal(shown["acme"]["cost"]) == seeded.costs["ann"] + seeded.costs["carl"]
    if by == "provider":
        assert page.find_element(By.CSS_SELECTOR, "svg.chart rect")  # the chart was drawn
        shoot("spend")


def test_spend_exports_equal_the_page(seeded, serve) -> None:
    import urllib.request

    served = serve(seeded.url)
    since = _since()
    usage = _usage("user", since)
    with urllib.request.urlopen(f"{served.base}/spend?since={since}&by=user&format=json") as response:
        exported = json.loads(response.read())
    assert {r["user"]: r["cost"] for r in exported["rows"]} == {r["user"]: r["cost"] for r in usage["rows"]}
    assert exported["total"]["cost"] == usage["total"]["cost"]
    with urllib.request.urlopen(f"{served.base}/spend?since={since}&by=user&format=csv") as response:
        assert response.headers["content-type"].startswith("text/csv")
        lines = response.read().decode().splitlines()
    assert lines[0].split(",")[:5] == ["user", "requests", "input_tokens", "output_tokens", "cost"]
    assert lines[-1].split(",")[4] == usage["total"]["cost"]


def test_follow_a_conversation_from_the_list_to_its_messages(seeded, serve, page, shoot) -> None:
    from selenium.webdriver.common.by import By
    from sqlalchemy import select

    from ai_core.storage.browse import money_text
    from ai_core.storage.conversation_tables import StoredMessage
    from ai_core.storage.database import Database

    served = serve(seeded.url)
    page.get(f"{served.base}/conversations?user=ann")
    ids = [row["id"] for row in _table(page, "conversations")]
    assert seeded.ids["ann"] in ids
    shoot("conversations")
    page.find_element(By.LINK_TEXT, seeded.ids["ann"]).click()
    assert page.find_element(By.ID, "conversation-id").text == seeded.ids["ann"]
    assert Decimal(page.find_element(By.ID, "conversation-cost").text) == seeded.costs["ann"]
    messages = page.find_elements(By.CSS_SELECTOR, "#messages li.message")
    roles = [m.get_attribute("class").split()[1] for m in messages]
    assert roles[:2] == ["user", "assistant"] and "tool" in roles
    text = page.find_element(By.ID, "messages").text
    assert "Where is my parcel?" in text and "lookup_order" in text and "order 42 shipped" in text
    with Database.open(seeded.url, migrate=False) as database, database.read() as conn:
        ledger = (
            conn.execute(
                select(StoredMessage.cost).where(
                    StoredMessage.conversation_id == seeded.ids["ann"], StoredMessage.billable
                )
            )
            .scalars()
            .all()
        )
    shown = _table(page, "messages")
    billed = [row for row in shown if row["cost"]]
    assert sorted(Decimal(row["cost"]) for row in billed) == sorted(ledger) and len(ledger) == 3
    assert all(row["provider"] == "fake" and row["model"] == "echo" for row in billed)
    assert {money_text(cost) for cost in ledger} <= {row["cost"] for row in billed}
    shoot("conversation")


def test_conversation_filters_and_search(seeded, serve, page) -> None:
    served = serve(seeded.url)
    page.get(f"{served.base}/conversations?tenant=acme&tag=red")
    assert [row["id"] for row in _table(page, "conversations")] == [seeded.ids["ann"]]
    page.get(f"{served.base}/conversations?q=QUARTERLY")
    assert [row["id"] for row in _table(page, "conversations")] == [seeded.ids["carl"]]
    page.get(f"{served.base}/conversations/{seeded.ids['carl']}")
    assert "Quarterly report, please" in page.page_source and PASTED_KEY not in page.page_source
    page.get(f"{served.base}/conversations?model=fake/echo&user=bob")
    assert [row["id"] for row in _table(page, "conversations")] == [seeded.ids["bob"]]


def test_models_failures_budgets_status(seeded, serve, page, shoot) -> None:
    from selenium.webdriver.common.by import By

    served = serve(seeded.url)
    since = _since()
    usage = _usage("model", since)
    page.get(f"{served.base}/models")
    (model,) = _table(page, "models")
    assert model["model"] == "fake/echo" and _int(model["calls"]) == usage["total"]["requests"]
    failed = _failed_attempts(seeded.url)
    assert failed >= 1 and _int(model["failures"]) == failed
    calls = usage["total"]["requests"]
    assert Decimal(model["cost_per_1k_calls"]) == Decimal(usage["total"]["cost"]) * 1000 / calls
    assert float(model["error_rate"]) == pytest.approx(100 * failed / (calls + failed), abs=0.01)
    shoot("models")

    page.get(f"{served.base}/failures")
    (failure,) = _table(page, "by_type")
    assert failure["provider"] == "fake" and failure["error_type"] == "ProviderUnavailableError"
    assert _int(failure["failures"]) == failed
    shoot("failures")

    page.get(f"{served.base}/budgets")
    acme = next(row for row in _table(page, "budgets") if row["target"] == "acme")
    tenants = {r["tenant"]: Decimal(r["cost"]) for r in _usage("tenant", since)["rows"]}
    assert Decimal(acme["spent"]) == tenants["acme"] and Decimal(acme["limit"]) == 1
    assert Decimal(acme["held"]) == 0
    shoot("budgets")

    page.get(f"{served.base}/status")
    modules = page.find_element(By.ID, "modules").text
    assert "ai_core.scale: " in modules and "ai_core.queue: " in modules
    if "ai_core.scale: installed" in modules:  # what `ai status` shows, section by section
        for section in ("breakers", "limits", "queue", "database"):
            assert page.find_element(By.ID, f"status-{section}").text, section
        assert "AI_REDIS_URL" in page.find_element(By.ID, "status-breakers").text
    else:
        assert "not part of this installation" in page.find_element(By.TAG_NAME, "main").text
    shoot("status")
