"""The PII detectors and the stream redactor, without the pipeline."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_core.security.pii import BUILTIN_DETECTORS, Detector, PIIFilter, StreamRedactor, iban_valid, luhn_valid

# Valid test values: Luhn-valid card numbers, ISO 13616 example IBANs, key shapes.
CARDS = ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
IBANS = [
    "GB82WEST12345698765432",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
]
EMAILS = ["john.doe@example.com", "a+tag@mail.example.co.uk", "x_y@sub.domain.org"]
PHONES = ["+44 20 7946 0958", "+1 (415) 555-2671", "030 1234 5678", "+49 30 12345678"]
SECRETS = [
    "sk-proj-abcdefghijklmnopqrstuv123",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "xoxb-1234567890-abcdefghij",
    "sk_live_abcdefghijklmnop1234",
    "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
]
ALL = [(v, "card") for v in CARDS] + [(v, "iban") for v in IBANS] + [(v, "email") for v in EMAILS]
ALL += [(v, "phone") for v in PHONES] + [(v, "secret") for v in SECRETS]

pii = PIIFilter()


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize(("value", "kind"), ALL)
def test_each_kind_is_found_and_replaced(value: str, kind: str) -> None:
    redacted, counts = pii.redact(f"before {value} after")
    assert redacted == f"before [{kind.upper()}] after"
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",  # not a card; too many digits in groups for a phone
        "iban GB82 WEST 1234 5698 7654 33 fails mod 97",
        "order 12345 of 2026-12-01 costs 19.99",
        "the year 2026 and version 3.12.1",
        "sk-short",
    ],
)
def test_lookalikes_are_left_alone(text: str) -> None:
    redacted, counts = pii.redact(text)
    assert "card" not in counts and "iban" not in counts and "secret" not in counts, (redacted, counts)


def test_a_plugin_detector_and_a_chosen_subset() -> None:
    employee = Detector("employee_id", re.compile(r"\bEMP-[0-9]{6}\b"), max_length=10)
    only = PIIFilter.with_detectors(["email", "employee_id"], [employee])
    assert only.redact("EMP-123456 a@b.io 4111111111111111") == (
        "[EMPLOYEE_ID] [EMAIL] 4111111111111111",
        {"employee_id": 1, "email": 1},
    )


def test_unknown_detector_is_a_configuration_error() -> None:
    from ai_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown PII detector 'ssn'"):
        PIIFilter.with_detectors(["ssn"])


words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40).map(
    lambda s: re.sub(r"[0-9@+_\-]", "", s)
)
secrets = st.sampled_from([v for v, _ in ALL])
documents = st.lists(st.tuples(words, secrets), min_size=1, max_size=6).map(
    lambda pairs: ("".join(f"{w} {s} " for w, s in pairs), [s for _, s in pairs])
)


def _digits(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_embedded_values_never_survive(document: tuple[str, list[str]]) -> None:
    text, embedded = document
    redacted, _ = pii.redact(text)
    for value in embedded:
        assert value not in redacted
        assert _digits(value) not in _digits(redacted)


@settings(max_examples=200, deadline=None)
@given(documents, st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=50))
def test_a_stream_cut_anywhere_releases_what_the_whole_text_does(
    document: tuple[str, list[str]], sizes: list[int]
) -> None:
    text, embedded = document
    redactor = StreamRedactor(pii)
    released: list[str] = []
    position = 0
    index = 0
    while position < len(text):
        size = sizes[index % len(sizes)]
        released.append(redactor.feed(text[position : position + size]))
        position += size
        index += 1
        assert redactor.held <= redactor.hold + size  # never more than one chunk past the bound
    released.append(redactor.flush())
    streamed = "".join(released)
    assert streamed == pii.redact(text)[0]
    for value in embedded:
        assert value not in streamed


def test_hold_back_is_the_longest_pattern_and_short_text_flows() -> None:
    redactor = StreamRedactor(pii)
    assert redactor.hold == max(d.max_length for d in BUILTIN_DETECTORS) + 1
    long_text = "word " * 400
    out = redactor.feed(long_text)
    assert len(out) == len(long_text) - redactor.hold  # everything but the hold is released at once
    assert out + redactor.flush() == long_text
