"""One table of API-key shapes (ai_core.redaction.KEY_SHAPES) serves log masking and the PII
filter's ``secret`` detector: whatever the detector finds, a log line never shows."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from ai_core.redaction import KEY_ANCHORS, KEY_SHAPES, REDACTED, key_shapes_pattern, redact
from ai_core.security.pii import BUILTIN_DETECTORS

SECRET = next(d for d in BUILTIN_DETECTORS if d.name == "secret")

# One real-looking key per shape, at the shortest length the detector accepts.
SAMPLES = [
    "sk-proj-" + "a1" * 8,
    "sk_live_" + "b2" * 8,
    "xai-" + "c3" * 8,
    "AIza" + "d4" * 15,
    "AKIA" + "E5" * 8,
    "ghp_" + "f6" * 15,
    "github_pat_" + "g7" * 20,
    "xoxb-" + "h8" * 5,
    "Bearer " + "i9" * 8,
]


def test_every_shape_has_a_sample_and_an_anchor() -> None:
    assert len(SAMPLES) == len(KEY_SHAPES)
    for sample in SAMPLES:
        assert any(anchor in sample for anchor in KEY_ANCHORS), sample


def test_the_detector_is_built_from_the_table() -> None:
    assert SECRET.pattern.pattern == key_shapes_pattern(exact=True)
    assert SECRET.anchors == KEY_ANCHORS


def test_each_shape_is_found_by_the_detector_and_masked_in_logs() -> None:
    for sample in SAMPLES:
        text = f"the key is {sample} (rotate it)"
        assert [m.group(0) for m in SECRET.pattern.finditer(text)] == [sample]
        assert redact(text) == f"the key is {REDACTED} (rotate it)", sample


@given(
    st.sampled_from(SAMPLES),
    st.text(alphabet="abcXYZ019 .,:;-_/=\n", max_size=40),
    st.text(alphabet="abcXYZ019 .,:;-_/=\n", max_size=40),
)
def test_what_the_detector_finds_never_survives_log_masking(sample: str, before: str, after: str) -> None:
    text = f"{before} {sample} {after}"
    found = [m.group(0) for m in SECRET.pattern.finditer(text)]
    masked = redact(text)
    for secret in found:
        assert secret not in masked
    assert re.sub(r"\s+", " ", sample) not in masked
