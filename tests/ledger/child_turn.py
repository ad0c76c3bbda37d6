"""A real process that makes one model call and is killed at a chosen point.

    python child_turn.py tool     # the model asks for a tool; the tool blocks (answer already recorded)
    python child_turn.py stream   # a stream that stalls after its first text
    python child_turn.py burst    # asyncio.run: rounds of 40 concurrent calls, until Ctrl-C
    python child_turn.py burst-trio   # the same in trio.run, with a nursery

The database, provider address and budgets come from the environment
(AI_DATABASE_URL, AI_OPENAI_BASE_URL, AI_OPENAI_API_KEY, AI_BUDGETS). It prints
one marker line when it reaches the point where the test kills it.
"""

from __future__ import annotations

import asyncio
import sys
import time

from ai_core import AI, TextDelta


def block(reason: str) -> str:
    """Wait a long time."""
    print("IN_TOOL", flush=True)
    time.sleep(600)
    return "never"


async def burst() -> None:
    """What an asyncio application does: ``asyncio.gather`` of many calls, ``asyncio.run``
    at the top (whose Ctrl-C cancels the main task natively, and gather its children)."""
    answered = 0

    async def one(ai: AI, index: int) -> None:
        nonlocal answered
        await ai.conversation("openai/gpt-4o-mini", user="ann", tags=["burst"]).user(f"hi {index}").asend()
        answered += 1
        if answered % 25 == 0:  # mid-round: 40 calls in flight
            print(f"ANSWERED {answered}", flush=True)

    async with AI() as ai:
        while True:
            await asyncio.gather(*(one(ai, index) for index in range(40)))


async def burst_trio() -> None:
    """The same under trio, whose Ctrl-C raises KeyboardInterrupt in whatever code runs then."""
    import trio

    answered = 0

    async def one(ai: AI, index: int) -> None:
        nonlocal answered
        await ai.conversation("openai/gpt-4o-mini", user="ann", tags=["burst"]).user(f"hi {index}").asend()
        answered += 1
        if answered % 25 == 0:
            print(f"ANSWERED {answered}", flush=True)

    async with AI() as ai:
        while True:
            async with trio.open_nursery() as nursery:
                for index in range(40):
                    nursery.start_soon(one, ai, index)


def main(mode: str) -> None:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks when a child hangs
    if mode == "burst":
        asyncio.run(burst())
        return
    if mode == "burst-trio":
        import trio

        trio.run(burst_trio)
        return
    with AI() as ai:
        chat = ai.conversation("openai/gpt-4o-mini", user="ann", tenant="acme", tags=["kill"])
        if mode == "tool":
            chat.tools([block]).user("go").send()
        else:
            for event in chat.user("go").stream():
                if isinstance(event, TextDelta):
                    print("DELTA", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
