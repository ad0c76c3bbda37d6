"""CPU per call of request policies, the PII filter (unary and stream) and the audit trail, on and off.

    .venv/bin/python benchmarks/bench_security.py            # a few seconds per configuration
    .venv/bin/python benchmarks/bench_security.py --calls 200

The fake provider answers (echoing the prompt, so the answer holds the same
personal data as the question), each call a fresh conversation with a 1.6 KB
prompt holding an e-mail address, a phone number, a card number and an IBAN.
Reported: CPU microseconds per call (process time, after a warm-up), and the
difference to the same pipeline with the feature off. The audit trail writes
to SQLite, so it is compared with SQLite persistence without it. The filter's
own cost is measured apart: compiled regexes on the prompt, uncached and
cached, and per streamed chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPT = (
    "Please write to john.doe@example.com or call +44 20 7946 0958 about the refund to card "
    "4111 1111 1111 1111 and the transfer to GB82 WEST 1234 5698 7654 32. "
    + "The rest of this message is ordinary prose about the order and its delivery. "
    * 18
)
POLICIES = [
    {"name": "acme", "tenant": "acme", "allowed_models": ["fake/*"], "max_tokens": 500, "max_prompt_chars": 20000},
    {"name": "everyone", "allowed_providers": ["fake"]},
]


def make_ai(database_url: str | None, **settings: Any) -> Any:
    from ai_core.config import load_settings
    from ai_core.testing import fake_ai

    config = load_settings(
        persistence=database_url is not None, database_url=database_url, default_model="fake/echo", **settings
    )
    return fake_ai(settings=config)


async def per_call(ai: Any, calls: int, stream: bool) -> float:
    async def one(index: int) -> None:
        chat = ai.conversation(tenant="acme").max_tokens(400).user(f"{index} {PROMPT}")
        if stream:
            async for _ in chat.astream():
                pass
        else:
            await chat.asend()

    for index in range(20):  # warm-up
        await one(index)
    started = time.process_time()
    for index in range(calls):
        await one(index + 100)
    return (time.process_time() - started) / calls * 1e6


def filter_costs() -> dict[str, float]:
    from ai_core.security.pii import PIIFilter, StreamRedactor

    pii = PIIFilter()
    rounds = 2000
    started = time.process_time()
    for index in range(rounds):
        pii._redact_uncached(f"{index} {PROMPT}")
    uncached = (time.process_time() - started) / rounds * 1e6
    started = time.process_time()
    for _ in range(rounds):
        pii.redact(PROMPT)
    cached = (time.process_time() - started) / rounds * 1e6
    words = PROMPT.split(" ")
    started = time.process_time()
    for _ in range(200):
        redactor = StreamRedactor(pii)
        for word in words:
            redactor.feed(word + " ")
        redactor.flush()
    chunk = (time.process_time() - started) / (200 * len(words)) * 1e6
    return {"regex, uncached (µs per 1.6 KB text)": uncached, "regex, cached": cached, "stream (µs per chunk)": chunk}


async def main(calls: int) -> None:
    print(f"{len(PROMPT)}-character prompt, {calls} calls per row, CPU µs per call\n")
    for name, value in filter_costs().items():
        print(f"  {name:42} {value:9.1f}")
    print()
    configurations: list[tuple[str, str | None, dict[str, Any]]] = [
        ("off (no policy, no PII, no audit)", None, {}),
        ("policy", None, {"policies": POLICIES}),
        ("pii (redact both, store redacted)", None, {"pii": {"enabled": True}}),
        ("policy + pii", None, {"policies": POLICIES, "pii": {"enabled": True}}),
        ("sqlite persistence", "db", {}),
        ("sqlite persistence + audit", "db", {"audit": True}),
        ("sqlite + audit + policy + pii", "db", {"audit": True, "policies": POLICIES, "pii": {"enabled": True}}),
    ]
    baseline: dict[tuple[bool, bool], float] = {}
    print(f"  {'configuration':42} {'unary':>9} {'+/-':>8} {'stream':>9} {'+/-':>8}")
    with tempfile.TemporaryDirectory() as directory:
        for index, (label, db, settings) in enumerate(configurations):
            url = f"sqlite:///{Path(directory) / f'bench{index}.db'}" if db else None
            row = []
            for stream in (False, True):
                async with make_ai(url, **settings) as ai:
                    value = await per_call(ai, calls, stream)
                base = baseline.setdefault((db is not None, stream), value)
                row.append(f"{value:9.0f} {value - base:+8.0f}")
            print(f"  {label:42} {' '.join(row)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
