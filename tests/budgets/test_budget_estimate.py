"""The worst case reserved before a call really is the worst case.

fake/echo: $0.50 in, $1.50 out per million tokens; 4096 max output, 128k context.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core.budgets.estimate import (
    UNKNOWN_IMAGE_TOKENS,
    WorstCase,
    _Candidate,
    choices,
    estimate_input_tokens,
    explicit_output_limit,
    image_size,
    image_tokens,
    worst_case,
)
from ai_core.types import ChatRequest, ImagePart, Message, ModelPrice

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OUT = Decimal("1.50") / 1_000_000
IN = Decimal("0.50") / 1_000_000


@pytest.fixture
def services() -> Iterator[object]:
    from ai_core.testing import fake_ai

    ai = fake_ai()
    yield ai.services
    ai.close()


def request(text: str = "hello", **fields: object) -> ChatRequest:
    return ChatRequest(provider="fake", model="echo", messages=[Message.user(text)], **fields)  # type: ignore[arg-type]


# -- images: real headers, real sizes ------------------------------------------------------


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 300) + b"x" * 300  # metadata before the frame header
    sof = b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + b"\xff" + exif + sof + b"\xff\xd9"  # with a fill byte before EXIF


def webp(kind: str, width: int, height: int) -> bytes:
    if kind == "VP8 ":
        body = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    elif kind == "VP8L":
        bits = (width - 1) | ((height - 1) << 14)
        body = b"\x2f" + struct.pack("<I", bits)
    else:
        body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = kind.encode() + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


@pytest.mark.parametrize(
    "data",
    [
        png(3000, 2000),
        gif(3000, 2000),
        jpeg(3000, 2000),
        webp("VP8 ", 3000, 2000),
        webp("VP8L", 3000, 2000),
        webp("VP8X", 3000, 2000),
    ],
    ids=["png", "gif", "jpeg", "webp-lossy", "webp-lossless", "webp-extended"],
)
def test_image_size_is_read_from_the_header(data: bytes) -> None:
    assert image_size(data) == (3000, 2000)


@given(
    st.binary(max_size=64),
    st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8", b"RIFF\x00\x00\x00\x00WEBP"]),
)
def test_image_size_never_fails_on_garbage(data: bytes, prefix: bytes) -> None:
    size = image_size(prefix + data)
    assert size is None or (size[0] > 0 and size[1] > 0)


def test_a_large_image_is_bounded_by_its_size_not_a_flat_allowance() -> None:
    small = image_tokens(ImagePart(data=png(256, 256), media_type="image/png"))
    large = image_tokens(ImagePart(data=png(4096, 4096), media_type="image/png"))
    # The flat allowance was 2,000 tokens; Gemini tiles a 4096 x 4096 image into 36 tiles of 258 tokens.
    assert large >= 36 * 258 > 2_000 > small
    # OpenAI's high-detail formula for a 2048 x 4096 image is 1,105 tokens; patches at the largest multiplier more.
    assert image_tokens(ImagePart(data=png(2048, 4096), media_type="image/png")) >= 1_105
    # detail="low" is not trusted to lower the bound (not every provider honours it)
    low = ImagePart(data=png(4096, 4096), media_type="image/png", detail="low")
    assert image_tokens(low) == large


def test_gpt_4o_mini_counts_image_tiles_many_times_over() -> None:
    image = ImagePart(data=png(1024, 1024), media_type="image/png")
    # gpt-4o-mini: 2,833 + 5,667 per tile; a 1024 x 1024 image is 4 tiles at high detail.
    assert image_tokens(image, "gpt-4o-mini") >= 2_833 + 4 * 5_667
    assert image_tokens(image, "gpt-4o") < 2_833


def test_image_of_unknown_size_gets_the_generous_bound() -> None:
    by_url = ImagePart(url="https://example.com/cat.png")
    assert image_tokens(by_url) == UNKNOWN_IMAGE_TOKENS
    unreadable = ImagePart(data=b"not an image at all", media_type="image/png")
    assert image_tokens(unreadable) == UNKNOWN_IMAGE_TOKENS
    assert image_tokens(ImagePart(data=png(4096, 4096), media_type="image/png")) <= UNKNOWN_IMAGE_TOKENS


def test_a_base64_data_url_is_decoded_for_its_size() -> None:
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg(100, 80) + b"\x00" * 5000).decode()
    assert image_tokens(ImagePart(url=url)) == image_tokens(ImagePart(data=jpeg(100, 80), media_type="image/jpeg"))
    assert image_tokens(ImagePart(url=url)) < UNKNOWN_IMAGE_TOKENS


# -- text, options, the bound ----------------------------------------------------------------


def test_text_counts_one_token_per_utf8_byte() -> None:
    ascii_only = estimate_input_tokens(request("a" * 30))
    assert estimate_input_tokens(request("漢" * 10)) == ascii_only  # 3 bytes each: byte-level tokenizers
    assert estimate_input_tokens(request("😀" * 10)) > ascii_only


def test_the_prompt_never_counts_for_more_than_the_context_window(services: object) -> None:
    worst = worst_case(request("x" * 500_000), services, NOW, default_max_output=4096)  # type: ignore[arg-type]
    assert worst.candidates[0].input_tokens == 128_000  # a longer prompt is refused unbilled


@pytest.mark.parametrize(
    ("value", "expected"), [(4, 4), ("3", 3), (2.0, 2), (True, 1), (0, 1), (-2, 1), ("many", 1), (None, 1)]
)
def test_choices_read_from_provider_options(value: object, expected: int) -> None:
    assert choices(request(provider_options={"n": value})) == expected
    assert choices(request(provider_options={"candidate_count": value})) == expected


def test_an_output_limit_in_provider_options_counts() -> None:
    assert explicit_output_limit(request()) is None
    assert explicit_output_limit(request(max_tokens=100)) == 100
    # options are merged into the body last, so they win: the larger of the two bounds
    assert explicit_output_limit(request(max_tokens=100, provider_options={"max_completion_tokens": 900})) == 900


def test_each_of_n_choices_is_billed(services: object) -> None:
    one = worst_case(request(max_tokens=1000), services, NOW, default_max_output=4096)  # type: ignore[arg-type]
    four = worst_case(request(max_tokens=1000, provider_options={"n": 4}), services, NOW, default_max_output=4096)  # type: ignore[arg-type]
    assert one.amount is not None and four.amount is not None
    assert four.amount - one.amount == 3 * 1000 * OUT


def test_without_max_tokens_the_bound_is_the_models_own_maximum(services: object) -> None:
    worst = worst_case(request(), services, NOW, default_max_output=100)  # type: ignore[arg-type]
    assert worst.output_tokens == 4096 and not worst.explicit
    unknown = worst_case(  # type: ignore[arg-type]
        ChatRequest(provider="fake", model="other", messages=[Message.user("hi")]),
        services,
        NOW,
        default_max_output=100,
    )
    assert unknown.output_tokens == 100


def test_dearer_reasoning_and_cache_writes_count_at_their_price(services: object) -> None:
    price = ModelPrice(
        provider="fake",
        model="echo",
        effective_from=date(2024, 1, 1),
        input_per_mtok=Decimal(1),
        output_per_mtok=Decimal(2),
        reasoning_per_mtok=Decimal(8),
        cache_write_per_mtok=Decimal(3),
    )
    candidate = _Candidate(request=request(), input_tokens=1_000, model_max=None, price=price)
    worst = WorstCase(services, NOW, [candidate], output_tokens=500, explicit=True)  # type: ignore[arg-type]
    assert worst.amount == (1_000 * Decimal(3) + 500 * Decimal(8)) / 1_000_000


@given(room=st.decimals(min_value=0, max_value=Decimal("0.01"), places=9))
def test_fit_finds_the_largest_output_that_fits(room: Decimal) -> None:
    from ai_core.testing import fake_ai

    with fake_ai() as ai:
        worst = worst_case(request("hello " * 50, provider_options={"n": 3}), ai.services, NOW, default_max_output=4096)
        fitted = worst.fit(room)
        minimum = worst.minimum
        assert minimum is not None and worst.amount is not None
        if fitted is None:
            assert minimum > room
            return
        tokens, amount = fitted
        assert 1 <= tokens <= 4096 and amount == worst.cost(tokens) and amount <= room
        assert tokens == 4096 or worst.cost(tokens + 1) > room  # type: ignore[operator]
