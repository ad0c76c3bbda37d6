"""Learn a provider's own limits from its answers, and slow down before it says 429.

OpenAI-style APIs send ``x-ratelimit-remaining-requests`` / ``-tokens`` and
``x-ratelimit-reset-requests`` / ``-tokens`` (``"1s"``, ``"6m0s"``, ``"20ms"``)
with every answer. When one says nothing is left, calls to that provider wait
until it resets (at most ``AI_RATE_LIMIT_WAIT`` seconds) instead of being sent
to a certain 429. Kept per process: a hint, not an accounting.
"""

from __future__ import annotations

import re
import time
from typing import Any

import anyio

__all__ = ["Headroom", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | None) -> float | None:
    """Seconds from ``"1s"``, ``"6m0s"``, ``"1h2m3.5s"``, ``"20ms"`` or a bare number; None if unreadable."""
    if not value:
        return None
    text = value.strip().lower()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, end = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != end:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        end = match.end()
    return total if end and end == len(text) else None


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


class Headroom:
    """What each provider last said it has left; ``blocked`` is empty while all is well."""

    def __init__(self) -> None:
        self.blocked: dict[str, tuple[float, str]] = {}
        """provider -> (monotonic time it frees, which of its limits is spent)."""

    def observe(self, provider: str, headers: Any) -> None:
        """Called with every answer's headers (cheap when the headers are absent)."""
        requests = headers.get("x-ratelimit-remaining-requests")
        tokens = headers.get("x-ratelimit-remaining-tokens")
        if requests is None and tokens is None:
            return
        wait, which = 0.0, ""
        if requests is not None and (_int(requests) or 0) <= 0:
            wait, which = parse_duration(headers.get("x-ratelimit-reset-requests")) or 1.0, "requests"
        if tokens is not None and (_int(tokens) or 0) <= 0:
            seconds = parse_duration(headers.get("x-ratelimit-reset-tokens")) or 1.0
            if seconds > wait:
                wait, which = seconds, "tokens"
        if wait > 0:
            self.blocked[provider] = (time.monotonic() + wait, which)
        elif self.blocked:
            self.blocked.pop(provider, None)

    async def wait(self, provider: str, limit: float) -> None:
        """Sleep until ``provider`` said its spent limit frees, at most ``limit`` seconds."""
        found = self.blocked.get(provider)
        if found is None:
            return
        delay = found[0] - time.monotonic()
        if delay <= 0:
            self.blocked.pop(provider, None)
            return
        await anyio.sleep(min(delay, limit))
        if delay <= limit and self.blocked.get(provider) is found:
            del self.blocked[provider]  # freed by now, unless a newer answer said otherwise

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return {
            provider: {"spent": which, "frees_in": round(until - now, 3)}
            for provider, (until, which) in self.blocked.items()
            if until > now
        }
