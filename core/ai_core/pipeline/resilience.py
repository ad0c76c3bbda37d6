"""Retry with backoff, and a circuit breaker per provider.

Only errors that say so are retried (``ProviderError.retryable``: rate limits,
5xx, timeouts, cut-off streams), never before the server's ``Retry-After`` (or
its ``x-ratelimit-reset-*`` headers); a wait longer than ``max_delay`` is not
waited here, the call moves on to its fallback or fails. A provider
that keeps failing is skipped for a cool-down instead of being hammered, which
is what makes failover to a ``.fallback()`` model fast.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from ai_core import errors

__all__ = ["CircuitBreaker", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 2
    """Retries after the first try (``AI_<PROVIDER>_RETRY_ATTEMPTS``)."""
    base_delay: float = 0.25
    max_delay: float = 20.0

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        return attempt <= self.attempts and isinstance(error, errors.ProviderError) and error.retryable

    def delay(self, error: BaseException, attempt: int) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            # Never before the server said, and spread a little after it so that every
            # caller told the same Retry-After does not come back in the same instant.
            return float(retry_after) + random.random() * min(1.0, 0.1 * float(retry_after))
        backoff: float = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)  # jitter spreads retries of many callers


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` consecutive retryable failures, for ``cooldown`` seconds."""

    threshold: int = 5
    cooldown: float = 30.0
    _failures: dict[str, int] = field(default_factory=dict)
    _opened_at: dict[str, float] = field(default_factory=dict)

    def check(self, provider: str) -> None:
        opened = self._opened_at.get(provider)
        if opened is None:
            return
        if time.monotonic() - opened < self.cooldown:
            raise errors.ProviderUnavailableError(
                f"circuit open after {self.threshold} consecutive failures; retrying after {self.cooldown:g}s",
                provider=provider,
            )
        del self._opened_at[provider]  # half-open: let one call through

    def record_success(self, provider: str) -> None:
        self._failures.pop(provider, None)
        self._opened_at.pop(provider, None)

    def record_failure(self, provider: str, error: BaseException) -> None:
        if not (isinstance(error, errors.ProviderError) and error.retryable):
            return
        count = self._failures.get(provider, 0) + 1
        self._failures[provider] = count
        if count >= self.threshold:
            self._opened_at[provider] = time.monotonic()
            self._failures[provider] = 0

    def is_open(self, provider: str) -> bool:
        opened = self._opened_at.get(provider)
        return opened is not None and time.monotonic() - opened < self.cooldown
