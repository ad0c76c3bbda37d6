"""A circuit breaker whose state every process shares through Redis.

Same rule as :class:`ai_core.pipeline.resilience.CircuitBreaker` (open after
``threshold`` consecutive retryable failures, for ``cooldown`` seconds), kept in
one hash per provider, ``ai:breaker:{provider}`` (``failures``, ``open_until``
in the server's clock). After the cool-down one process wins the half-open probe
(``ai:breaker:{provider}:probe``, ``SET NX``); the others keep refusing until it
succeeds (closed) or fails (open again).

Each process mirrors the state. A call that takes rate limits or looks in the
response cache reads the breaker in that same round trip (:mod:`ai_core.scale.shared`);
one that does neither reads it again at most every ``refresh`` seconds, so a
call that finds all well costs no round trip of its own for it. Failures and
the success after them are written at once. Times come from Redis (``TIME``), so
machines with different clocks agree on when a breaker opens and closes.
"""

from __future__ import annotations

import time
from typing import Any

from ai_core import errors
from ai_core.logging import get_logger

__all__ = ["SharedCircuitBreaker", "breaker_key"]


log = get_logger("ai_core.scale")


def breaker_key(provider: str) -> str:
    return f"ai:breaker:{provider}"


# KEYS: hash, probe. ARGV: threshold, cooldown. Returns 1 when this failure opened the breaker.
_FAIL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if open_until > 0 or failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'open_until', tostring(now + tonumber(ARGV[2])), 'failures', 0)
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

# KEYS: hash, probe. ARGV: cooldown, probe (1: try to take the half-open probe).
# Returns {seconds the breaker stays open (<= 0: not open), failures, 1 if this caller holds the probe}.
_STATE = """
local h = redis.call('HMGET', KEYS[1], 'open_until', 'failures')
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local open_until = tonumber(h[1] or '0') or 0
local probe = 0
if open_until > 0 and open_until <= now and ARGV[2] == '1' then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', math.floor(tonumber(ARGV[1]) * 1000)) then probe = 1 end
end
local left = 0
if open_until > 0 then left = open_until - now end
return {tostring(left), tostring(tonumber(h[2] or '0') or 0), probe, tostring(open_until)}
"""


class SharedCircuitBreaker:
    shared = True

    def __init__(self, redis: Any, *, threshold: int = 5, cooldown: float = 30.0, refresh: float = 1.0) -> None:
        self.redis = redis
        self.threshold = threshold
        self.cooldown = cooldown
        self.refresh = refresh
        # provider -> (monotonic time read, monotonic time open until or 0, failures seen, half-open)
        self._mirror: dict[str, tuple[float, float, int, bool]] = {}

    async def _read(self, provider: str, probe: bool) -> tuple[float, int, bool, bool]:
        left, failures, probing, open_until = await self.redis.execute(
            "EVAL", _STATE, 2, breaker_key(provider), breaker_key(provider) + ":probe", self.cooldown, int(probe)
        )
        now = time.monotonic()
        seconds = float(left)
        was_opened = float(open_until) > 0
        self._mirror[provider] = (now, now + seconds if seconds > 0 else 0.0, int(failures), was_opened)
        return seconds, int(failures), bool(probing), was_opened

    async def acheck(self, provider: str) -> None:
        """Refuse a call while the breaker is open; let one process probe after the cool-down."""
        now = time.monotonic()
        mirror = self._mirror.get(provider)
        if mirror is not None and now - mirror[0] < self.refresh and not mirror[3]:
            return  # closed when last read, and read recently
        if mirror is not None and mirror[1] > now:
            self._refuse(provider, mirror[1] - now)
        seconds, _, probing, was_opened = await self._read(provider, probe=True)
        if seconds > 0:
            self._refuse(provider, seconds)
        if was_opened and not probing:
            self._refuse_half_open(provider)

    def refuse_if_open(self, provider: str) -> None:
        """Refuse from the mirror alone: the last round trip found the breaker open."""
        mirror = self._mirror.get(provider)
        if mirror is not None and mirror[1] > time.monotonic():
            self._refuse(provider, mirror[1] - time.monotonic())

    def args(self, provider: str) -> tuple[str, float]:
        """The breaker as :func:`ai_core.scale.shared.script` reads it."""
        return breaker_key(provider), self.cooldown

    def observe(self, provider: str, reply: Any, *, refuse: bool = True) -> None:
        """Mirror what a shared round trip read (:class:`ai_core.scale.shared.Reply`); refuse an open breaker."""
        now = time.monotonic()
        if reply.kind == "ok":
            self._mirror[provider] = (now, 0.0, reply.failures, reply.probe)
            return
        opened = reply.kind == "open"
        self._mirror[provider] = (now, now + reply.seconds if opened else 0.0, reply.failures, True)
        if not refuse:
            return
        if opened:
            self._refuse(provider, reply.seconds)
        self._refuse_half_open(provider)

    def _refuse_half_open(self, provider: str) -> None:
        refusal = errors.ProviderUnavailableError(
            "circuit half-open: another process is probing the provider", provider=provider
        )
        refusal._breaker_refusal = True  # type: ignore[attr-defined]
        raise refusal

    def _refuse(self, provider: str, seconds: float) -> None:
        refusal = errors.ProviderUnavailableError(
            f"circuit open after {self.threshold} consecutive failures; retrying after {seconds:.1f}s",
            provider=provider,
        )
        refusal._breaker_refusal = True  # type: ignore[attr-defined]
        raise refusal

    async def arecord_success(self, provider: str) -> None:
        mirror = self._mirror.get(provider)
        if mirror is not None and (mirror[2] or mirror[3]):
            try:
                await self.redis.execute("DEL", breaker_key(provider), breaker_key(provider) + ":probe")
            except errors.StorageError as exc:  # the answer arrived: it must reach the ledger regardless
                log.error("breaker_not_updated", provider=provider, error=str(exc))
                return
            self._mirror[provider] = (time.monotonic(), 0.0, 0, False)

    async def arecord_failure(self, provider: str, error: BaseException) -> bool:
        """Count a retryable failure; True when it opened the breaker. A call this breaker
        refused is no failure of the provider's (counting it would keep the breaker open
        for as long as calls keep coming)."""
        if not (isinstance(error, errors.ProviderError) and error.retryable):
            return False
        if getattr(error, "_breaker_refusal", False):
            return False
        try:
            opened = await self.redis.execute(
                "EVAL", _FAIL, 2, breaker_key(provider), breaker_key(provider) + ":probe", self.threshold, self.cooldown
            )
        except errors.StorageError as exc:  # the provider's own error is what the caller must see
            log.error("breaker_not_updated", provider=provider, error=str(exc))
            return False
        self._mirror.pop(provider, None)  # read again on the next check
        return bool(opened)

    def is_open(self, provider: str) -> bool:
        mirror = self._mirror.get(provider)
        return mirror is not None and mirror[1] > time.monotonic()

    async def state(self, provider: str) -> dict[str, Any]:
        """``closed``, ``open`` (with ``open_for`` seconds) or ``half-open``, for ``ai status``."""
        seconds, failures, _, was_opened = await self._read(provider, probe=False)
        if seconds > 0:
            return {"state": "open", "open_for": round(seconds, 1), "failures": failures}
        return {"state": "half-open" if was_opened else "closed", "failures": failures}
