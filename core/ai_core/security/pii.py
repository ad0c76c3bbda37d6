"""Find and redact personal data and secrets in text: the detectors and the filter.

Compiled regular expressions, each with a bounded match length and, where the
shape alone is too loose, a checksum: payment card numbers must pass Luhn, IBANs
the ISO 13616 mod-97 check. Bounded lengths are what let a stream be filtered
while holding back at most the longest pattern's length (:class:`StreamRedactor`).

Built-in detectors: ``email``, ``phone``, ``card``, ``iban``, ``secret``
(API-key shapes: OpenAI/Anthropic ``sk-``, xAI, Google ``AIza``, AWS ``AKIA``,
GitHub ``ghp_``/``github_pat_``, Slack ``xox?-``, Stripe ``sk_live_``, bearer
tokens: :data:`ai_core.redaction.KEY_SHAPES`, the table log masking uses
too). Plugins add detectors with the ``register_pii_detectors`` hook.

Why not a detection library: Microsoft Presidio finds the same entities with the
same technique (regexes plus checksums), but it installs spaCy (393 MB before a
language model), took 6.7 s to import, and its pattern recognizers alone cost
about 8.7 ms per 1.6 KB text against about 0.2 ms here (docs/security.md). What
it adds is named-entity recognition (names, addresses); a plugin can wrap it as
a detector where that is worth its cost.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ai_core.redaction import KEY_ANCHORS, key_shapes_pattern

__all__ = [
    "BUILTIN_DETECTORS",
    "Detector",
    "Finding",
    "PIIFilter",
    "StreamRedactor",
    "iban_valid",
    "luhn_valid",
]


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (payment card numbers)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


@dataclass(frozen=True)
class Detector:
    """One kind of sensitive text.

    :param name: the kind (``"email"``); the replacement is ``[EMAIL]`` unless given.
    :param pattern: a regular expression; it must not match more than ``max_length`` characters.
    :param max_length: the longest text a match can span: a stream holds back this much.
    :param validate: an extra check on a candidate (a checksum); None accepts every match.
    """

    name: str
    pattern: re.Pattern[str]
    max_length: int
    validate: Callable[[str], bool] | None = None
    replacement: str | None = None
    anchors: tuple[str, ...] = ()
    """Literals one of which every match contains: text holding none of them is not searched."""

    @property
    def label(self) -> str:
        return self.replacement if self.replacement is not None else f"[{self.name.upper()}]"


def _card_ok(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _phone_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 8 <= digits <= 15


BUILTIN_DETECTORS: tuple[Detector, ...] = (
    Detector(
        "secret",
        re.compile(key_shapes_pattern(exact=True)),  # the key shapes log masking uses too (ai_core.redaction)
        max_length=220,
        anchors=KEY_ANCHORS,
    ),
    Detector(
        "email",
        re.compile(
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,6}\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
        ),
        max_length=64 + 1 + 64 * 7 + 25,
        anchors=("@",),
    ),
    Detector(
        "iban",
        re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Za-z0-9])"),
        max_length=4 + 2 * 30,
        validate=iban_valid,
    ),
    Detector(
        "card",
        re.compile(r"[0-9](?<![0-9][0-9])(?:[ \-]?[0-9]){12,18}(?![0-9])"),
        max_length=1 + 2 * 18,
        validate=_card_ok,
    ),
    Detector(
        "phone",
        re.compile(
            # Each form starts with a plain character class, and the look-behind comes after it, so the
            # regex engine skips ahead to candidates instead of trying every position (4x faster).
            r"(?:\+(?<![0-9A-Za-z+]\+)[0-9]{1,3}[ .\-]?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9]{2,4}"
            r"|\((?<![0-9A-Za-z+]\()[0-9]{1,4}\)[ .\-]?[0-9]{2,4}"
            r"|[0-9](?<![0-9A-Za-z+][0-9])[0-9]{1,3})"
            r"(?:[ .\-]?[0-9]{2,4}){2,4}(?![0-9])"
        ),
        max_length=5 + 7 + 4 + 4 * 5,
        validate=_phone_ok,
    ),
)
"""In priority order: where two detectors match overlapping text, the earlier one wins."""


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass
class PIIFilter:
    """Redact what the chosen detectors find. Thread-safe; results of whole texts are cached."""

    detectors: Sequence[Detector] = BUILTIN_DETECTORS
    _cache: Callable[[str], tuple[str, tuple[tuple[str, int], ...]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.detectors:
            raise ValueError("a PII filter needs at least one detector")
        self.detectors = tuple(self.detectors)
        self.max_length = max(d.max_length for d in self.detectors)
        self._cache = lru_cache(maxsize=4096)(self._redact_uncached)

    @classmethod
    def with_detectors(cls, names: Iterable[str] | None, extra: Iterable[Detector] = ()) -> PIIFilter:
        """The built-in detectors named in ``names`` (all when None) plus ``extra``."""
        known = {d.name: d for d in (*BUILTIN_DETECTORS, *extra)}
        wanted = list(known) if names is None else list(names)
        unknown = [n for n in wanted if n not in known]
        if unknown:
            from ai_core.errors import ConfigurationError

            raise ConfigurationError(
                f"unknown PII detector {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})"
            )
        return cls([known[n] for n in wanted])

    def find(self, text: str, *, start: int = 0, final_before: int | None = None) -> list[Finding]:
        """Non-overlapping findings in ``text`` from ``start`` (earlier text is
        seen only by look-behind), earliest first; priority breaks ties."""
        found: list[tuple[int, int, int, str]] = []
        for priority, detector in enumerate(self.detectors):
            if detector.anchors and not any(text.find(anchor, start) >= 0 for anchor in detector.anchors):
                continue
            pattern, position = detector.pattern, start
            while (match := pattern.search(text, position)) is not None:
                begin = match.start()
                if final_before is not None and begin >= final_before:
                    break
                end = _valid_end(detector, text, match)
                if end is None:
                    position = begin + 1  # a longer candidate failed: later ones may start inside it
                    continue
                found.append((begin, priority, end, detector.name))
                position = max(end, begin + 1)
        found.sort()
        result: list[Finding] = []
        end = -1
        for start, _, stop, kind in found:
            if start >= end:
                result.append(Finding(kind, start, stop))
                end = stop
        return result

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """``text`` with every finding replaced by its label, and how many of each kind."""
        if len(text) < 6:
            return text, {}
        redacted, counts = self._cache(text)
        return redacted, dict(counts)

    def _redact_uncached(self, text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
        findings = self.find(text)
        if not findings:
            return text, ()
        labels = {d.name: d.label for d in self.detectors}
        out: list[str] = []
        position = 0
        counts: dict[str, int] = {}
        for finding in findings:
            out.append(text[position : finding.start])
            out.append(labels[finding.kind])
            position = finding.end
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        out.append(text[position:])
        return "".join(out), tuple(counts.items())


def _valid_end(detector: Detector, text: str, match: re.Match[str]) -> int | None:
    """Where the valid finding starting at ``match`` ends: the match itself when it
    passes the check, else the longest shorter match that ends at a word boundary
    and passes (a greedy IBAN pattern may run into the next word); None if none."""
    if detector.validate is None or detector.validate(match.group()):
        return match.end()
    begin = match.start()
    for end in range(match.end() - 1, begin, -1):
        if end < len(text) and text[end].isalnum():
            continue
        if detector.pattern.fullmatch(text, begin, end) and detector.validate(text[begin:end]):
            return end
    return None


_CONTEXT = 8
"""Characters of already-emitted text kept for the patterns' look-behind."""


class StreamRedactor:
    """Redact a text stream chunk by chunk, holding back no more than the longest pattern needs.

    Text at least ``max_length`` characters before the end of what has arrived is
    final: a match starting there fits, with one character of look-ahead, in what
    has arrived, so more text cannot change it. Only the tail after that point
    waits for the next chunk (or :meth:`flush`).
    """

    def __init__(self, pii: PIIFilter) -> None:
        self.pii = pii
        self.hold = pii.max_length + 1
        self._pending = ""
        self._context = ""
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def feed(self, chunk: str) -> str:
        """Redacted text that can be released now (possibly empty)."""
        with self._lock:
            self._pending += chunk
            if len(self._pending) <= self.hold:
                return ""
            return self._release(len(self._pending) - self.hold)

    def flush(self) -> str:
        """Everything still held, redacted: call at the end of the stream."""
        with self._lock:
            return self._release(len(self._pending)) if self._pending else ""

    @property
    def held(self) -> int:
        return len(self._pending)

    def _release(self, limit: int) -> str:
        offset = len(self._context)
        text = self._context + self._pending
        final = offset + limit
        labels = {d.name: d.label for d in self.pii.detectors}
        out: list[str] = []
        position = offset
        for finding in self.pii.find(text, start=offset, final_before=final):
            if finding.start >= final:
                break
            out.append(text[position : finding.start])
            out.append(labels[finding.kind])
            position = finding.end
            self.counts[finding.kind] = self.counts.get(finding.kind, 0) + 1
        if position < final:
            out.append(text[position:final])
            position = final
        self._context = text[max(0, position - _CONTEXT) : position]
        self._pending = text[position:]
        return "".join(out)
