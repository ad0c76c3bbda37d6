"""``ai batch`` in a real process against the local OpenAI server: end to end, bad lines,
Ctrl-C half-way and a resume that sends nothing twice, and output lines lost after their calls
were answered found again in the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, OpenAICompatServer, RecordedRequest, Usage

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = 60.0


def _env(server: OpenAICompatServer, tmp_path: Path, database_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AI_") or key.startswith("AI_CORE_")}
    env.update(
        {
            "AI_DATA_DIR": str(tmp_path / "data"),
            "AI_CONFIG_FILE": str(tmp_path / "absent.toml"),
            "AI_OPENAI_BASE_URL": server.base_url,
            "AI_OPENAI_API_KEY": TEST_API_KEY,
            "AI_OPENAI_RETRY_ATTEMPTS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url is not None:
        env["AI_DATABASE_URL"] = database_url
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from ai_core.cli import main; main()", "batch", *args]


def _answer_by_prompt(delay: float = 0.0) -> Any:
    def handler(request: RecordedRequest) -> Completion:
        if delay:
            time.sleep(delay)
        prompt = request.json["messages"][-1]["content"]
        return Completion(text=f"answer to {prompt}", usage=Usage(prompt_tokens=10, completion_tokens=5))

    return handler


def _prompts_sent(server: OpenAICompatServer) -> Counter[str]:
    return Counter(body["messages"][-1]["content"] for body in server.chat_bodies)


def _write_items(path: Path, count: int) -> None:
    with path.open("w") as handle:
        for i in range(count):
            handle.write(json.dumps({"id": f"item-{i}", "model": "openai/gpt-4o-mini", "prompt": f"q{i}"}) + "\n")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_end_to_end_with_bad_lines(openai_server: OpenAICompatServer, tmp_path: Path) -> None:
    openai_server.handler = _answer_by_prompt()
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "model": "openai/gpt-4o-mini", "prompt": "hello", "temperature": 0.2}),
                json.dumps(
                    {
                        "id": "b",
                        "model": "openai/gpt-4o-mini",
                        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
                        "max_tokens": 20,
                    }
                ),
                "{not json",
                json.dumps({"id": "c", "model": "openai/gpt-4o-mini"}),
                json.dumps({"id": "a", "model": "openai/gpt-4o-mini", "prompt": "again"}),
                json.dumps(["a list"]),
                "",
                json.dumps({"id": "d", "model": "openai/gpt-4o-mini", "prompt": "x", "temprature": 1}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        _command(str(source), "-o", str(out), "-c", "2"), env=_env(openai_server, tmp_path, None),
        capture_output=True, text=True, timeout=GENEROUS,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"Error: 5 item(s) failed: their error is in {out} (--retry-failed sends them again)"
    lines = {line["id"]: line for line in _lines(out)}
    assert set(lines) == {"a", "b", "line-3", "c", "line-5", "line-6", "d"}
    assert lines["a"]["text"] == "answer to hello" and lines["a"]["error"] is None
    assert lines["a"]["usage"]["input_tokens"] == 10 and lines["a"]["usage"]["output_tokens"] == 5
    assert lines["a"]["cost"] is not None and float(lines["a"]["cost"]) > 0 and lines["a"]["currency"] == "USD"
    assert lines["b"]["text"] == "answer to hi"
    sent_b = next(body for body in openai_server.chat_bodies if body["messages"][-1]["content"] == "hi")
    assert sent_b["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (sent_b.get("max_tokens") or sent_b.get("max_completion_tokens")) == 20
    errors_by_id = {key: value["error"]["message"] for key, value in lines.items() if value["error"]}
    assert errors_by_id["line-3"].startswith("line 3: not valid JSON")
    assert errors_by_id["c"].startswith("line 4: item 'c': no user message")
    assert errors_by_id["line-5"] == "line 5: id 'a' was already used on line 1"
    assert errors_by_id["line-6"] == "line 6: expected a JSON object, got list"
    assert "unknown field 'temprature'" in errors_by_id["d"]
    assert len(openai_server.chat_bodies) == 2


def test_a_missing_input_file_is_one_line(tmp_path: Path, openai_server: OpenAICompatServer) -> None:
    done = subprocess.run(
        _command(str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "out.jsonl")),
        env=_env(openai_server, tmp_path, None), capture_output=True, text=True, timeout=GENEROUS,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr and "does not exist" in done.stderr


def test_ctrl_c_half_way_then_resume_sends_every_item_once(
    openai_server: OpenAICompatServer, tmp_path: Path, database_url: str
) -> None:
    openai_server.handler = _answer_by_prompt(delay=0.02)
    count = 150
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_items(source, count)
    env = _env(openai_server, tmp_path, database_url)
    child = subprocess.Popen(
        _command(str(source), "-o", str(out), "-c", "4"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + GENEROUS
    while not (out.exists() and len(out.read_bytes().splitlines()) >= 20):
        assert time.monotonic() < deadline and child.poll() is None, "the batch did not get going"
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=GENEROUS)
    assert child.returncode == 130, stderr
    assert b"Traceback" not in stderr and b"run the same command again to resume" in stderr
    first = _lines(out)
    assert 20 <= len(first) < count  # stopped half-way, every line whole
    assert sum(_prompts_sent(openai_server).values()) == len(first)  # the calls in flight finished and were written

    again = subprocess.run(
        _command(str(source), "-o", str(out), "-c", "4"), env=env, capture_output=True, text=True, timeout=GENEROUS
    )
    assert again.returncode == 0, again.stderr
    lines = _lines(out)
    assert sorted(line["id"] for line in lines) == sorted(f"item-{i}" for i in range(count))
    assert all(line["text"] == f"answer to q{line['id'].removeprefix('item-')}" for line in lines)
    sent = _prompts_sent(openai_server)
    assert set(sent) == {f"q{i}" for i in range(count)} and set(sent.values()) == {1}  # nothing sent twice

    # Now the process dies after calls were answered (so they are in the ledger) but before their
    # lines reached the output file: the next run writes them without calling the provider again.
    written = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(written[:10]) + written[10][:17])  # ten lines kept, the eleventh cut mid-write
    before = {line["id"]: line for line in lines}
    third = subprocess.run(
        _command(str(source), "-o", str(out)), env=env, capture_output=True, text=True, timeout=GENEROUS
    )
    assert third.returncode == 0, third.stderr
    assert f"{count - 10} taken from the ledger" in third.stderr
    assert sum(_prompts_sent(openai_server).values()) == count  # not one more call
    lines = _lines(out)
    assert sorted(line["id"] for line in lines) == sorted(before)
    for line in lines:
        assert line["text"] == before[line["id"]]["text"] and line["usage"] == before[line["id"]]["usage"]
        assert line["cost"] is not None and line["cost"] == before[line["id"]]["cost"]


def test_a_second_ctrl_c_stops_at_once_and_the_next_run_completes(
    openai_server: OpenAICompatServer, tmp_path: Path, sqlite_template: Path
) -> None:
    """The second Ctrl-C cancels the calls in flight instead of waiting for them; nothing
    answered is lost, and only those cancelled calls (at most one per worker) are sent again."""
    import shutil

    database = tmp_path / "ai.db"
    shutil.copyfile(sqlite_template, database)
    openai_server.handler = _answer_by_prompt(delay=0.5)
    count, workers = 40, 4
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_items(source, count)
    env = _env(openai_server, tmp_path, f"sqlite:///{database}")
    command = _command(str(source), "-o", str(out), "-c", str(workers))
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + GENEROUS
    while not (out.exists() and len(out.read_bytes().splitlines()) >= 4):
        assert time.monotonic() < deadline and child.poll() is None, "the batch did not get going"
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=GENEROUS)
    assert child.returncode == 130, stderr
    assert b"Traceback" not in stderr and b"stopped at once" in stderr
    written = len(_lines(out))
    assert written < count

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=GENEROUS)
    assert again.returncode == 0, again.stderr
    assert sorted(line["id"] for line in _lines(out)) == sorted(f"item-{i}" for i in range(count))
    sent = _prompts_sent(openai_server)
    assert set(sent) == {f"q{i}" for i in range(count)}
    assert sum(1 for n in sent.values() if n > 1) <= workers and max(sent.values()) <= 2
