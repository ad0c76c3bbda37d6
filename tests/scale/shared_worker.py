"""One process of a test that shares a rate limit, a breaker and a cache through Redis.

    python shared_worker.py BACKEND BASE_URL CALLS

AI_REDIS_URL, AI_RATE_LIMITS and the rest come from the environment. Makes five
calls to ``fake/echo`` (limited), one cached call to the server at BASE_URL,
then CALLS plain calls to it; prints what happened to each, as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

from ai_core import AI
from ai_core.errors import AIError


async def outcome(send: Any) -> str:
    try:
        reply = await send
    except AIError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "cached" if reply.cached else "answered"


async def main(base_url: str, calls: int) -> dict[str, Any]:
    providers = {"openai": {"api_key": "sk-test-0123456789abcdef", "base_url": base_url, "retry_attempts": 0}}
    async with AI(persistence=False, providers=providers) as ai:
        limited = [await outcome(ai.conversation("fake/echo").user("Hi").asend()) for _ in range(5)]
        cached = await outcome(ai.conversation("openai/gpt-4o-mini").cache(60).user("Hi").asend())
        plain = [await outcome(ai.conversation("openai/gpt-4o-mini").user("Go").asend()) for _ in range(calls)]
    return {"limited": limited, "cached": cached, "plain": plain}


if __name__ == "__main__":
    backend, base, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(anyio.run(main, base, calls, backend=backend)))
