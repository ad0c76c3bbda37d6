"""One Redis round trip per call: the writes the last calls left, the response-cache
lookup, the breaker's state and every rate limit, in one ``EVALSHA``.

Before this a call with two rate limits and a cache lookup made four round trips
(one library script per limit, a ``GET``, then the tokens settled and the
answer stored). Now:

* **admission** (before a call) is one script: a cache hit returns at once and
  takes no limit; on a miss the script reads the breaker hash (and takes the
  half-open probe after a cool-down) and then takes each limit in order,
  stopping at the first one that is spent. The cache layer runs it, and the
  provider manager uses what it took instead of asking again;
* **recording** (after a call: tokens beyond the estimate, the answer stored) is
  not waited for. The writes are queued in the process and ride along with the
  process's next round trip; a background thread sends the ones no call
  carried within ``write_delay`` seconds (0.05), in one round trip for all.
  So a process that keeps calling makes exactly one round trip per call; a
  lone call's writes cost one more that nobody waits for. Another process sees
  a stored answer at most ``write_delay`` seconds after this one got it.

The rate limits are the ``limits`` library's sliding-window counter: the same
keys (``LIMITS:{key}`` and ``LIMITS:{key}/-1``) and the library's own Lua,
read from the installed package and wrapped as a function, so a process using
the library directly shares the limits. Only the settling ("add N tokens, or
whatever the window has left") is ours, three lines over the library's window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["PREFIX", "Reply", "script", "window_keys"]

PREFIX = "LIMITS"
"""The ``limits`` library's key prefix for Redis (``RedisStorage.PREFIX``)."""


def window_keys(key: str) -> tuple[str, str]:
    """The library's previous and current window keys of a sliding-window limit."""
    current = f"{PREFIX}:{{{key}}}"
    return f"{current}/-1", current


_BODY = r"""
local function acquire(KEYS, ARGV)
%(library)s
end

local function fill(prev, cur, limit, expiry, amount)
  if acquire({prev, cur}, {limit, expiry, amount}) then return end
  local previous_ttl = math.max(0, tonumber(redis.call('pttl', prev)) or 0)
  local weighted = math.floor((tonumber(redis.call('get', prev)) or 0) * previous_ttl / (tonumber(expiry) * 1000))
  local left = tonumber(limit) - weighted - (tonumber(redis.call('get', cur)) or 0)
  if left > 0 then acquire({prev, cur}, {limit, expiry, left}) end
end

local n = 0
local function arg() n = n + 1; return ARGV[n] end

for _ = 1, tonumber(arg()) do
  local op = arg()
  if op == 'set' then
    local key, value, px = arg(), arg(), arg()
    redis.call('set', key, value, 'PX', px)
  elseif op == 'add' then  -- only if absent: a value read from the source of truth never overwrites a newer one
    local key, value, px = arg(), arg(), arg()
    redis.call('set', key, value, 'PX', px, 'NX')
  else
    local prev, cur, limit, expiry, amount = arg(), arg(), arg(), arg(), arg()
    fill(prev, cur, limit, expiry, amount)
  end
end

local cache_key, now = arg(), tonumber(arg())
if cache_key ~= '' then
  local found = redis.call('get', cache_key)
  if found then
    -- an answer is stored as "fresh_until\n{json}"; past that it is kept only for the fallback
    local stamp = now and tonumber(string.match(found, '^([%d.]+)\n'))
    if not now or (stamp and stamp > now) then return {'hit', found} end
  end
end

local breaker = arg()
local failures, probe = 0, 0
if breaker ~= '' then
  local cooldown_ms = arg()
  local h = redis.call('hmget', breaker, 'open_until', 'failures')
  local open_until = tonumber(h[1] or '0') or 0
  failures = tonumber(h[2] or '0') or 0
  if open_until > 0 then
    local t = redis.call('time')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    if open_until > now then return {'open', tostring(open_until - now), failures} end
    if not redis.call('set', breaker .. ':probe', '1', 'NX', 'PX', cooldown_ms) then
      return {'half-open', '0', failures}
    end
    probe = 1
  end
end

local taken = 0
for _ = 1, tonumber(arg()) do
  local prev, cur, limit, expiry, amount = arg(), arg(), arg(), arg(), arg()
  if not acquire({prev, cur}, {limit, expiry, amount}) then break end
  taken = taken + 1
end
return {'ok', taken, failures, probe}
"""


@cache
def script() -> tuple[str, str]:
    """The script's text, with the installed ``limits`` library's acquire script inside, and its SHA1."""
    from limits.storage.redis import RedisStorage

    library = RedisStorage.SCRIPT_ACQUIRE_SLIDING_WINDOW
    text = _BODY.replace("%(library)s", library.decode() if isinstance(library, bytes) else library)
    return text, hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Reply:
    """What one round trip found: ``hit`` (with the cached value), ``open`` (for
    ``seconds``), ``half-open`` (another process probes), or ``ok`` with the number
    of limits ``taken`` (all of them unless one was spent), the breaker's
    ``failures`` and whether this call holds the half-open ``probe``."""

    kind: str
    value: bytes | None = None
    seconds: float = 0.0
    taken: int = 0
    failures: int = 0
    probe: bool = False


def arguments(
    writes: list[tuple[Any, ...]],
    cache_key: str | None,
    breaker: tuple[str, float] | None,
    slots: list[tuple[str, str, int, int, int]],
    fresh_at: float | None = None,
) -> list[Any]:
    """ARGV of :func:`script`. With ``fresh_at`` (a ``time.time()``) the cached value is an
    answer stamped ``fresh_until\\n``, and one no longer fresh then is not a hit."""
    args: list[Any] = [len(writes)]
    for write in writes:
        args += write
    args += (cache_key or "", "" if fresh_at is None else repr(fresh_at))
    if breaker is None:
        args.append("")
    else:
        args += (breaker[0], max(1, int(breaker[1] * 1000)))
    args.append(len(slots))
    for slot in slots:
        args += slot
    return args


def parse(raw: Any) -> Reply:
    kind = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    if kind == "hit":
        return Reply("hit", value=raw[1])
    if kind == "ok":
        return Reply("ok", taken=int(raw[1]), failures=int(raw[2]), probe=bool(int(raw[3])))
    return Reply(kind, seconds=float(raw[1]), failures=int(raw[2]))
