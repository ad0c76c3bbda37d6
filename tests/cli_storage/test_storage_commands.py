"""`ai usage`, `ai conversations`, `ai cost`, `ai db` and `ai jobs` against a real database."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from ai_core.cli import cli
from ai_core.migrations import HEAD


@pytest.fixture
def env(database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AI_DATABASE_URL", database_url)
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "none.toml"))
    return {"AI_DATABASE_URL": database_url}


@pytest.fixture
def seeded(env) -> list:
    from ai_core.app import AI

    with AI(persistence=True) as ai:
        conversation = ai.conversation("fake/echo", user="ann", tenant="acme", tags=("demo",))
        replies = [conversation.user("Hello, ledger!").send(), conversation.user("Again").send()]
        replies.append(ai.conversation("fake/echo", user="bob").user("hi").send())
    return replies


def _run(*args: str) -> object:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_usage_json_matches_the_ledger(seeded) -> None:
    result = _run("usage", "--by", "user", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    by_user = {row["user"]: row for row in payload["rows"]}
    assert by_user["ann"]["requests"] == 2
    total = sum((r.cost.total for r in seeded), Decimal(0))
    assert Decimal(payload["total"]["cost"]) == total
    assert isinstance(payload["total"]["cost"], str)


def test_usage_by_day_draws_a_chart(seeded) -> None:
    result = _run("usage", "--by", "day")
    assert result.exit_code == 0, result.output
    assert "Cost per day" in result.output and "█" in result.output


def test_usage_rebuild(seeded) -> None:
    result = _run("usage", "rebuild")
    assert result.exit_code == 0 and "ai_usage_analytics: 1 rows" in result.output


def test_usage_rejects_bad_input(env) -> None:
    assert _run("usage", "--since", "yesterday").exit_code == 2
    assert _run("usage", "--by", "planet").exit_code == 2


def test_conversations_list_show_export(seeded) -> None:
    conversation_id = seeded[0].conversation_id
    listing = json.loads(_run("conversations", "list", "--json").output)
    assert {row["id"] for row in listing} == {seeded[0].conversation_id, seeded[2].conversation_id}
    scope = ("--tenant", "acme", "--user", "ann")
    shown = _run("conversations", "show", conversation_id, *scope)
    assert shown.exit_code == 0 and "Hello, ledger!" in shown.output and "fake/echo" in shown.output
    lines = _run("conversations", "export", conversation_id, "--format", "jsonl", *scope).output.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["role"] for r in records] == ["user", "assistant", "user", "assistant"]
    assert Decimal(records[1]["cost"]) == seeded[0].cost.total
    markdown = _run("conversations", "export", conversation_id, "--format", "markdown", *scope).output
    assert markdown.startswith(f"# Conversation {conversation_id}") and "## assistant" in markdown


def test_a_conversation_is_shown_only_in_its_own_scope(seeded) -> None:
    conversation_id = seeded[0].conversation_id  # tenant acme, user ann
    for command in ("show", "export"):
        for scope in ((), ("--tenant", "other", "--user", "ann"), ("--tenant", "acme"), ("--user", "ann")):
            result = _run("conversations", command, conversation_id, *scope)
            assert result.exit_code == 1 and "Hello, ledger!" not in result.output
            assert "for this tenant and user" in result.output


def test_unknown_conversation_is_an_error(env) -> None:
    result = _run("conversations", "show", "missing")
    assert result.exit_code == 1 and "no conversation with id 'missing'" in result.output


def test_jobs_run(seeded) -> None:
    assert "sync-models" in _run("jobs", "list").output
    analytics = _run("jobs", "run", "generate-analytics")
    assert analytics.exit_code == 0 and "ai_model_performance: 1 rows" in analytics.output
    synced = _run("jobs", "run", "sync-models", "--provider", "fake")
    assert synced.exit_code == 0 and "fake: 1 models, 1 prices" in synced.output
    priced = _run("jobs", "run", "calculate-costs")
    assert priced.exit_code == 0 and "priced 0" in priced.output
    cleaned = _run("jobs", "run", "cleanup-conversations", "--older-than-days", "0")
    assert cleaned.exit_code == 0 and "archived 2 conversation(s)" in cleaned.output


def test_jobs_run_expire_holds_closes_what_a_dead_process_left(env) -> None:
    """A hold whose lease ran out (its process was killed mid-call) is closed by the job,
    once; a live one is left alone."""
    from datetime import UTC, datetime

    from ai_core.app import AI
    from ai_core.budgets import Budget
    from ai_core.budgets.ledger import Hold, HoldLine, SQLBudgetLedger
    from ai_core.ids import new_id

    # Two budgets: an admission on a counter would close that counter's stale holds itself.
    dead_budget, live_budget = Budget(limit=Decimal(1), name="dead"), Budget(limit=Decimal(1), name="live")
    period = dead_budget.period_start(datetime.now(UTC))

    def hold(budget: Budget) -> Hold:
        line = HoldLine(budget, budget.key("*"), period, Decimal("0.1"), Decimal("0.1"))
        return Hold(call_id=new_id(), lines=[line])

    with AI(persistence=True) as ai:
        ledger = SQLBudgetLedger(ai.services.database)
        ledger.reserve(hold(dead_budget), lease=-1)  # as if its process died: the lease has run out
        ledger.reserve(hold(live_budget), lease=600)
        assert "expire-holds" in _run("jobs", "list").output
        first, second = _run("jobs", "run", "expire-holds"), _run("jobs", "run", "expire-holds")
        assert ledger.usage(dead_budget.key("*"), period) == (0, 0)
        assert ledger.usage(live_budget.key("*"), period) == (0, Decimal("0.1"))
    assert first.exit_code == 0 and "closed 1 budget hold(s) whose lease ran out" in first.output
    assert second.exit_code == 0 and "closed 0 budget hold(s)" in second.output


def test_db_current_and_upgrade(env) -> None:
    from ai_core.migrations import HEAD

    current = _run("db", "current")
    assert current.exit_code == 0 and f"{HEAD} (this ai-core needs {HEAD}: up to date)" in current.output
    upgraded = _run("db", "upgrade")
    assert upgraded.exit_code == 0 and f"-> {HEAD}" in upgraded.output


@pytest.mark.postgres
def test_db_upgrade_creates_a_server_schema(postgres_server, monkeypatch: pytest.MonkeyPatch) -> None:
    name = postgres_server.create_database()
    try:
        url = postgres_server.url(name)
        assert "needs `ai db upgrade`" in _run("db", "current", "--url", url).output
        result = _run("db", "upgrade", "--url", url)
        assert result.exit_code == 0 and f"empty -> {HEAD}" in result.output
    finally:
        postgres_server.drop_database(name)


class TestCost:
    def test_json_has_decimal_strings_parts_and_price_row(self, env) -> None:
        result = _run(
            "cost",
            "fake/echo",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "500",
            "--cached-tokens",
            "200",
            "--reasoning-tokens",
            "100",
            "--json",
        )
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        # 800 x 0.50 + 200 x 0.05 + 500 x 1.50 (reasoning at the output rate), per million.
        assert payload["total_cost"] == "0.00116"
        assert payload["parts"] == {
            "input": "0.0004",
            "cached_input": "0.00001",
            "output": "0.0006",
            "reasoning": "0.00015",
        }
        assert payload["price"]["effective_from"] == "2024-01-01" and payload["price"]["input_per_mtok"] == "0.50"

    def test_price_before_the_first_row_is_unknown(self, env) -> None:
        result = _run("cost", "fake/echo", "--input-tokens", "1", "--output-tokens", "1", "--at", "2020-01-01")
        assert result.exit_code == 1 and "first price is in force from 2024-01-01" in result.output

    def test_unknown_model_is_an_error_not_zero(self, env) -> None:
        result = _run("cost", "fake/nope", "--input-tokens", "10", "--output-tokens", "10", "--json")
        assert result.exit_code == 1 and "unknown model 'fake/nope'" in result.output

    @pytest.mark.parametrize(
        "args",
        [
            ["fake-echo", "--input-tokens", "1", "--output-tokens", "1"],
            ["fake/echo", "--input-tokens", "1", "--output-tokens", "1", "--cached-tokens", "2"],
            ["fake/echo", "--input-tokens", "1", "--output-tokens", "1", "--reasoning-tokens", "2"],
            ["fake/echo", "--input-tokens", "-1", "--output-tokens", "1"],
            ["fake/echo", "--input-tokens", "1", "--output-tokens", "1", "--at", "soon"],
        ],
    )
    def test_bad_input_is_a_usage_error(self, env, args: list[str]) -> None:
        assert _run("cost", *args).exit_code == 2
