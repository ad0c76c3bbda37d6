"""``ai chat`` says when budgets only count this process's spending (persistence off)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ai_core import app as app_module
from ai_core import builtin, plugins
from ai_core.cli import cli
from ai_core.drivers import fake_plugin
from ai_core.drivers.fake import FakeDriver
from ai_core.plugins import PluginRegistry

NOTE = "budgets count only this process's spending"


@pytest.fixture(autouse=True)
def fake_everywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every ``AI`` the CLI builds answers with the fake driver, in a fresh data dir."""
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("AI_BUDGETS", raising=False)
    monkeypatch.delenv("AI_PERSISTENCE", raising=False)
    monkeypatch.setattr(plugins, "_default", PluginRegistry(plugins=[("core", builtin), ("fake", fake_plugin)]))
    real_ai = app_module.AI
    fake = FakeDriver()
    monkeypatch.setattr(app_module, "AI", lambda **kwargs: real_ai(drivers={"fake": fake}, **kwargs))
    yield


def chat(*args: str, env: dict[str, Any] | None = None) -> Any:
    return CliRunner().invoke(cli, ["chat", "-m", "fake/echo", *args, "hi"], env=env)


BUDGETS = json.dumps([{"limit": "5", "period": "monthly"}])


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--no-persist"], {"AI_BUDGETS": BUDGETS}), ([], {"AI_BUDGETS": BUDGETS, "AI_PERSISTENCE": "off"})],
    ids=["--no-persist", "AI_PERSISTENCE=off"],
)
def test_budgets_without_persistence_are_said_to_be_per_process(args: list[str], env: dict[str, str]) -> None:
    result = chat(*args, env=env)
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if NOTE in line] == [
        "note: persistence is off, so budgets count only this process's spending (they start at zero next time)"
    ]
    assert result.stdout == "Echo: hi\n"  # the note never mixes into the answer


@pytest.mark.parametrize(
    ("args", "env"),
    [([], {"AI_BUDGETS": BUDGETS}), (["--no-persist"], {})],
    ids=["persisted budgets", "no budgets"],
)
def test_no_note_when_budgets_are_stored_or_absent(args: list[str], env: dict[str, str]) -> None:
    result = chat(*args, env=env)
    assert result.exit_code == 0, result.output
    assert NOTE not in result.output
