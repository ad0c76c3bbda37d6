"""Scripted ``sequentialthinking`` calls that every comparison with the reference replays."""

from __future__ import annotations

from typing import Any

T = "sequentialthinking"


def thought(text: str, number: Any, total: Any, more: Any = True, **extra: Any) -> tuple[str, dict[str, Any] | None]:
    return T, {"thought": text, "nextThoughtNeeded": more, "thoughtNumber": number, "totalThoughts": total, **extra}


# A session: plain thoughts, coercions, a revision, branches, a raised total, errors in between.
SESSION: list[tuple[str, dict[str, Any] | None]] = [
    thought("Frame the problem", 1, 4),
    thought("Numbers and booleans as strings", "2", "4", "TRUE"),
    thought("Revise the first thought", 3, 4, isRevision=True, revisesThought=1),
    thought("Revision flags as strings", 3, 4, isRevision="true", revisesThought="1"),
    thought("Branch from thought 2", 4, 5, branchFromThought=2, branchId="alt"),
    thought("An integer-like branch id sorts first", 4, 5, branchFromThought=2, branchId="7"),
    thought("A smaller one sorts before it", 4, 5, branchFromThought="2", branchId="3"),
    thought("Leading zero: an ordinary key", 4, 5, branchFromThought=2, branchId="03"),
    thought("A branch id without a branch point is not recorded", 5, 5, branchId="orphan"),
    thought("An empty branch id is not recorded", 5, 5, branchFromThought=1, branchId=""),
    thought("Past the estimate: total raised", 7, 5, needsMoreThoughts=True),
    thought("Needs more, as a string", 8, 5, needsMoreThoughts="FALSE"),
    thought("Hex, arrays and booleans coerce", " 0x0A ", [12], True),
    thought("Exponents and padding", "1e1", "\u00a011\t", "false"),
    thought("", 12, 12),
    thought('Unicode: ünïcödé, "quotes", \\ and a\nnewline 🧠', 13, 13, branchFromThought=1, branchId="β-ünï \"q\""),
    thought("Unknown keys are ignored", 14, 14, extra={"nested": [1, 2]}, thoughtnumber=99),
    # Validation errors: nothing recorded.
    (T, {}),
    (T, None),
    thought("zero", 0, 3),
    thought("fraction", 1.5, 3),
    thought("not a number", "abc", 3),
    thought("infinite", 1, "Infinity"),
    thought("too big", 2**53, 3),
    thought("hugely negative", -1e300, 3),
    thought("negative hex", "-0x10", 3),
    thought("null number", None, 3),
    thought("object number", {}, 3),
    thought("two-element array", [1, 2], 3),
    thought("bad boolean", 1, 3, "maybe"),
    thought("number as boolean", 1, 3, 1),
    thought("null boolean", 1, 3, None),
    (T, {"thought": 42, "nextThoughtNeeded": "nope", "thoughtNumber": 0, "totalThoughts": "x", "isRevision": 3,
         "revisesThought": -1, "branchFromThought": 0.5, "branchId": 9, "needsMoreThoughts": []}),
    thought("bad optional", 1, 3, branchId=None),
    thought("bad revision number", 1, 3, isRevision=True, revisesThought="0"),
    # Tools the server does not have.
    ("sequential_thinking", {"thought": "README's name", "nextThoughtNeeded": False, "thoughtNumber": 1,
                             "totalThoughts": 1}),
    ("nope", {}),
    thought("Done", 15, 15, False),
]  # fmt: skip
