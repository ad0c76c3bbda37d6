"""Two real processes share one rate limit, one circuit breaker and one cache through Redis.

The first process spends part of a shared limit, answers and caches a request,
and opens the provider's breaker with five 503s; the second (on the other anyio
backend) gets only what is left of the limit, the cached answer without asking
the provider, and a refusal from the open breaker, again without asking it.
``ai status --json`` then shows the breaker open.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers.openai_compat import Completion, ErrorReply, OpenAICompatServer

WORKER = Path(__file__).with_name("shared_worker.py")
LIMITS = json.dumps([{"scope": "provider", "name": "fake", "requests_per_minute": 7}])


def run(backend: str, redis_url: str, base_url: str, calls: int) -> dict[str, Any]:
    environment = {
        **os.environ,
        "AI_REDIS_URL": redis_url,
        "AI_PERSISTENCE": "off",
        "AI_RATE_LIMITS": LIMITS,
        "AI_RATE_LIMIT_WAIT": "0",
    }
    done = subprocess.run(
        [sys.executable, str(WORKER), backend, base_url, str(calls)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize(("first", "second"), [("asyncio", "trio"), ("trio", "asyncio")])
def test_two_processes_share_a_limit_a_cache_and_a_breaker(
    redis_url: str, openai_server: OpenAICompatServer, first: str, second: str
) -> None:
    openai_server.reply(Completion(text="once"), *[ErrorReply.unavailable() for _ in range(5)])
    one = run(first, redis_url, openai_server.base_url, calls=5)
    assert one["limited"] == ["answered"] * 5 and one["cached"] == "answered"
    assert all(o.startswith("ProviderUnavailableError") for o in one["plain"])
    assert len(openai_server.chat_bodies) == 6

    two = run(second, redis_url, openai_server.base_url, calls=1)
    assert two["limited"][:2] == ["answered"] * 2  # 7 a minute for every process together
    assert all(
        o.startswith("RateLimitReachedError") and "7 requests per minute for provider 'fake'" in o
        for o in two["limited"][2:]
    )
    assert two["cached"] == "cached"
    [refused] = two["plain"]
    assert refused.startswith("ProviderUnavailableError") and "circuit open" in refused
    assert len(openai_server.chat_bodies) == 6  # the second process never asked the provider

    status = subprocess.run(
        [str(Path(sys.executable).with_name("ai")), "status", "--json"],
        env={**os.environ, "AI_REDIS_URL": redis_url, "AI_PERSISTENCE": "off", "AI_RATE_LIMITS": LIMITS},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    found = json.loads(status.stdout)
    assert found["breakers"]["shared"] and found["breakers"]["breakers"]["openai"]["state"] == "open"
    assert found["breakers"]["redis"] == redis_url  # host, port and database; never a password
    [limit] = found["limits"]["now"]
    assert limit["remaining"] == 0 and limit["limit"] == "7 requests per minute for provider 'fake'"
