"""A real process that makes one model call and is killed at a chosen point.

    python child_turn.py tool     # the model asks for a tool; the tool blocks (answer already recorded)
    python child_turn.py stream   # a stream that stalls after its first text

The database, provider address and budgets come from the environment
(AI_DATABASE_URL, AI_OPENAI_BASE_URL, AI_OPENAI_API_KEY, AI_BUDGETS). It prints
one marker line when it reaches the point where the test kills it.
"""

from __future__ import annotations

import sys
import time

from ai_core import AI, TextDelta


def block(reason: str) -> str:
    """Wait a long time."""
    print("IN_TOOL", flush=True)
    time.sleep(600)
    return "never"


def main(mode: str) -> None:
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
