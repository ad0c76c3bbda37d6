"""The main job: one conversation through the whole ai-core pipeline.

builder -> middleware (budget) -> provider manager -> fake driver -> cost ->
events in the background -> stored in the embedded SQLite database. Then the
stored conversation is read back with its cost. Runs offline on the built-in
`fake` provider; set AI_DEMO_MODEL=openai/gpt-4o-mini (and a key) to use a real one.
"""

from __future__ import annotations

import os
from decimal import Decimal

from ai_core import AI, CostCalculated, ResponseGenerated


def main() -> None:
    model = os.environ.get("AI_DEMO_MODEL", "fake/echo")
    seen: list[str] = []
    with AI(budgets=[{"name": "demo-daily", "scope": "global", "period": "daily", "limit": "5.00"}]) as ai:

        @ai.on(ResponseGenerated, CostCalculated)
        def remember(event: object) -> None:  # runs in the background, never delays the caller
            seen.append(type(event).__name__)

        database = ai.services.database
        print(f"database: {database.display_url if database else 'persistence off'}")
        chat = ai.conversation(model, user="demo-user", tags=["demo"]).system("You are terse.")

        first = chat.user("What is ai-core?").send()
        print(f"\nuser      > What is ai-core?\nassistant > {first.text}")
        print(
            f"            {first.usage.input_tokens} in / {first.usage.output_tokens} out tokens, "
            f"cost ${_money(first.cost.total if first.cost else None)}, {first.latency_ms:.1f} ms"
        )

        print("\nuser      > And in one streamed sentence?\nassistant > ", end="", flush=True)
        final = None
        for event in chat.user("And in one streamed sentence?").stream():
            text = getattr(event, "text", None)
            if text:
                print(text, end="", flush=True)
            final = getattr(event, "response", final)
        assert final is not None
        print(
            f"\n            {final.usage.input_tokens} in / {final.usage.output_tokens} out tokens, "
            f"cost ${_money(final.cost.total if final.cost else None)}"
        )

        ai.events.drain()
        print(f"\nevents delivered in the background: {', '.join(seen)}")

        # Resume the conversation by id, as its user: its history comes back from the database.
        resumed = ai.conversation(id=chat.id, user="demo-user")
        reply = resumed.user("Remember me?").send()
        print(f"\nresumed conversation {chat.id} from storage; the model saw {len(resumed.messages) - 1} messages")
        print(f"assistant > {reply.text}")

        if database is not None:
            from ai_core import conversation_detail

            stored = conversation_detail(database, chat.id, user="demo-user")
            assert stored is not None
            print(f"\nstored in {database.display_url}:")
            for row in stored["messages"]:
                cost = "" if row["role"] != "assistant" else f"  cost ${_money(row['cost'])}"
                print(f"  #{row['position']} {row['role']:<9} {row['message'].text[:50]!r}{cost}")
            print(
                f"  {stored['message_count']} messages, {stored['total_input_tokens']} in / "
                f"{stored['total_output_tokens']} out tokens, total cost ${_money(stored['total_cost'])} "
                f"(user {stored['user_id']}, tags {stored['tags']})"
            )


def _money(value: Decimal | None) -> str:
    return "unknown" if value is None else f"{value:.8f}"


if __name__ == "__main__":
    main()
