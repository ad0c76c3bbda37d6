"""``ai batch`` options, run in-process (fast): --retry-failed, --model, --no-persist, --progress,
and mistakes in options reported in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, ErrorReply, OpenAICompatServer, RecordedRequest

from ai_core.cli import cli


@pytest.fixture
def env(openai_server: OpenAICompatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpenAICompatServer:
    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AI_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("AI_OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("AI_OPENAI_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("AI_OPENAI_RETRY_ATTEMPTS", "0")
    monkeypatch.delenv("AI_DATABASE_URL", raising=False)
    return openai_server


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["batch", *args], catch_exceptions=False)


def _lines(path: Path) -> dict[str, dict[str, Any]]:
    return {line["id"]: line for line in map(json.loads, path.read_text().splitlines())}


def test_retry_failed_sends_only_the_failed_items_again(env: OpenAICompatServer, tmp_path: Path) -> None:
    refusing = {"on": True}

    def handler(request: RecordedRequest) -> Completion | ErrorReply:
        prompt = request.json["messages"][-1]["content"]
        if prompt == "flaky" and refusing["on"]:
            return ErrorReply.bad_request("not today", param=None)
        return Completion(text=f"answer to {prompt}")

    env.handler = handler
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        json.dumps({"id": "a", "prompt": "steady"}) + "\n" + json.dumps({"id": "b", "prompt": "flaky"}) + "\n"
    )
    first = _run(str(source), "-o", str(out), "-m", "openai/gpt-4o-mini")
    assert first.exit_code == 1 and "1 item(s) failed" in first.output
    assert _lines(out)["b"]["error"]["type"] == "InvalidRequestError"

    same = _run(str(source), "-o", str(out), "-m", "openai/gpt-4o-mini")  # resumed: nothing to send
    assert same.exit_code == 1 and len(env.chat_bodies) == 2

    refusing["on"] = False
    retried = _run(str(source), "-o", str(out), "-m", "openai/gpt-4o-mini", "--retry-failed")
    assert retried.exit_code == 0, retried.output
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and _lines(out)["b"]["text"] == "answer to flaky" and _lines(out)["b"]["error"] is None
    assert sorted(body["messages"][-1]["content"] for body in env.chat_bodies) == ["flaky", "flaky", "steady"]


def test_no_persist_and_the_progress_bar(env: OpenAICompatServer, tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "prompt": f"p{i}"}) + "\n" for i in range(5)))
    result = _run(str(source), "-o", str(out), "-m", "openai/gpt-4o-mini", "--no-persist", "--progress", "-c", "2")
    assert result.exit_code == 0, result.output
    assert "5/5" in result.output and "0 failed" in result.output and "USD" in result.output
    assert set(_lines(out)) == {str(i) for i in range(5)}
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").glob("*.db"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "no-slash"], "model must be 'provider/model'"),
        (["-c", "0"], "0 is not in the range"),
        (["--provider-batch", "--no-persist"], "drop --no-persist"),
    ],
)
def test_bad_options_are_one_line(env: OpenAICompatServer, tmp_path: Path, args: list[str], message: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "prompt": "x", "model": "openai/gpt-4o-mini"}) + "\n")
    result = _run(str(source), "-o", str(tmp_path / "out.jsonl"), *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert env.chat_bodies == []
