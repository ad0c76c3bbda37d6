"""Reading batch items: every line becomes an item or one clear error, whatever it holds."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_core import errors
from ai_core.batch.items import BatchResult, parse_item
from ai_core.batch.jsonl import read_done, read_items


def test_a_full_item_is_read() -> None:
    item = parse_item(
        {
            "id": 7, "model": "openai/gpt-4o-mini", "temperature": 0.5, "max_tokens": 10, "stop": "END",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                                             {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                {"role": "assistant", "content": "ok"}, {"role": "user", "content": "and?"},
            ],
            "response_format": {"type": "json_object"}, "options": {"openai_logprobs": True},
            "user": "ann", "tenant": "acme", "tags": ["eval"], "metadata": {"run": 3}, "max_cost": "0.01",
            "fallback": ["fake/echo"],
        }
    )  # fmt: skip
    assert (
        item.id == "7"
        and item.system == "Be brief."
        and [m.role for m in item.messages] == ["user", "assistant", "user"]
    )
    assert item.params == {"temperature": 0.5, "max_tokens": 10, "stop": ["END"]} and item.json_object
    assert item.metadata == {"run": "3"} and item.max_cost == Decimal("0.01") and item.fallback == ("fake/echo",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prompt": "x"}, 'missing "id"'),
        ({"id": "a"}, "no user message"),
        ({"id": "a", "prompt": "x", "messages": []}, "either"),
        ({"id": "a", "prompt": "x", "temperature": "hot"}, '"temperature" must be a number'),
        ({"id": "a", "prompt": "x", "max_tokens": 1.5}, '"max_tokens" must be an integer'),
        ({"id": "a", "prompt": "x", "max_cost": -1}, "positive amount"),
        ({"id": "a", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"id": "a", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"id": "a", "prompt": "x", "model": "gpt-4o"}, "'provider/model'"),
        ({"id": "a", "prompt": "x", "stream": True}, "unknown field 'stream'"),
        ({"id": "x" * 300, "prompt": "x"}, "at most 255"),
    ],
)
def test_a_bad_item_is_one_clear_error(data: dict[str, object], message: str) -> None:
    with pytest.raises(errors.RequestValidationError) as info:
        parse_item(data)
    assert message in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                                st.dictionaries(st.sampled_from(["id", "prompt", "model", "messages", "x"]),
                                                st.one_of(st.text(max_size=8), st.integers(), st.none()),
                                                ).map(lambda d: json.dumps(d).encode())),
                      max_size=8))  # fmt: skip
def test_any_input_file_gives_one_entry_per_line(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> None:
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    path = tmp_path_factory.mktemp("items") / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    entries = list(read_items(path))
    expected = [line for line in path.read_bytes().split(b"\n")[:-1] if line.strip()]
    assert len(entries) == len(expected)
    for entry in entries:
        if isinstance(entry, BatchResult):
            assert entry.error and entry.error.startswith("line ") and "\n" not in entry.error


def test_the_output_file_says_what_is_done_and_a_cut_last_line_is_not(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(
        b'{"id": "a", "error": null}\n{"id": "b", "error": {"type": "X", "message": "m"}}\nnot json\n{"id": "c", "err'
    )
    done = read_done(out)
    assert (
        done.done == {"a", "b"}
        and done.failed == {"b"}
        and done.valid_bytes == len(out.read_bytes()) - len(b'{"id": "c", "err')
    )
