"""``ai status``: one screen and ``--json``; a section another part adds; a broken one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ai_core.cli import cli
from ai_core.scale import status as status_module


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("AI_DATABASE_URL", raising=False)
    monkeypatch.delenv("AI_REDIS_URL", raising=False)
    monkeypatch.setenv("AI_RATE_LIMITS", '[{"scope": "tenant", "name": "acme", "requests_per_minute": 60}]')


def test_status_shows_every_part_on_one_screen(env: None) -> None:
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    for heading in ("providers", "breakers", "limits", "cache", "queue", "database"):
        assert f"\n{heading}\n" in f"\n{result.output}"
    assert "each process keeps its own breakers" in result.output
    assert "tenant acme: 60 requests/min" in result.output
    assert "fake" in result.output


def test_status_as_json(env: None) -> None:
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["limits"]["rules"] == [{"scope": "tenant", "name": "acme", "requests_per_minute": 60}]
    assert found["breakers"]["shared"] is False and found["queue"]["engine"] == "in-process"
    assert found["database"]["state"] in ("up to date", "needs `ai db upgrade`")


def test_a_section_can_be_added_and_a_broken_one_hides_nothing(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sections = dict(status_module.STATUS_SECTIONS)
    monkeypatch.setattr(status_module, "STATUS_SECTIONS", sections)
    status_module.register_status_section("queue", "json:nope")  # the queue engine's slot, pointed at nothing
    result = CliRunner().invoke(cli, ["status", "--json"])
    found = json.loads(result.output)
    assert "AttributeError" in found["queue"]["error"] and "rules" in found["limits"]
