"""Stored messages are versioned: old formats upgrade, unknown ones are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core.storage.message_format import CURRENT_FORMAT, StoredFormatError, decode_message, encode_message
from ai_core.types import Message, ToolCallPart

text = st.text(max_size=200)


@given(text, st.dictionaries(st.text(min_size=1, max_size=10), st.integers() | st.text(max_size=20), max_size=4))
def test_round_trip(content: str, arguments: dict) -> None:
    message = Message(
        role="assistant", parts=[{"type": "text", "text": content}, ToolCallPart(id="c", name="f", arguments=arguments)]
    )
    version, parts = encode_message(message)
    assert version == CURRENT_FORMAT
    assert decode_message("assistant", None, version, parts) == message


def test_format_zero_is_upgraded() -> None:
    assert decode_message("user", None, 0, "plain old text") == Message.user("plain old text")


def test_newer_format_is_refused_not_guessed() -> None:
    with pytest.raises(StoredFormatError, match="newer than this ai-core"):
        decode_message("user", None, CURRENT_FORMAT + 1, [{"type": "text", "text": "x"}])


def test_corrupt_row_is_a_clear_error() -> None:
    with pytest.raises(StoredFormatError, match="not valid"):
        decode_message("user", None, CURRENT_FORMAT, [{"type": "hologram"}])
