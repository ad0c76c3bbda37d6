"""The ``sequentialthinking`` tool as ``tools/list`` describes it (data only).

The input and output schemas are the reference's, key for key (draft-07, the boolean fields typed
``["boolean", "string"]``, integers bounded by JavaScript's largest safe integer), so a client
validating arguments against them accepts exactly what the reference accepts. The description is
written for this server.
"""

from __future__ import annotations

from typing import Any

from ai_mcp_sequential.thinking import MAX_SAFE_INTEGER, TOOL_NAME

__all__ = ["ANNOTATIONS", "DESCRIPTION", "INPUT_SCHEMA", "OUTPUT_SCHEMA", "TITLE", "TOOL_NAME"]

TITLE = "Sequential Thinking"

DESCRIPTION = """\
Think through a problem one numbered thought at a time, revising and branching as understanding grows.

Use it for problems that need several steps: breaking a task down, planning with room to change \
course, analysis whose scope is unclear at first, or anything where earlier conclusions may need \
to be questioned. Each call records one thought and answers with the current count of thoughts and \
the branches opened so far.

How to use it:
- Start with an estimate in totalThoughts and change it freely; thoughtNumber may go past it \
(totalThoughts is then raised to match).
- Set isRevision and revisesThought when a thought reconsiders an earlier one.
- Set branchFromThought and branchId to explore an alternative from an earlier thought.
- Set needsMoreThoughts when you reach the planned end but need to continue.
- Form a hypothesis, check it against the earlier thoughts, and repeat until satisfied.
- Keep nextThoughtNeeded true while more thinking is needed; set it false only when you have a \
satisfactory answer, then give that answer.

Parameters:
- thought: the current thinking step (analysis, a revision, a question, a hypothesis, a check)
- nextThoughtNeeded: whether another thought should follow
- thoughtNumber: the number of this thought (1, 2, 3, ...)
- totalThoughts: the current estimate of how many thoughts are needed
- isRevision: whether this thought revises earlier thinking
- revisesThought: the number of the thought being revised
- branchFromThought: the thought this branch starts from
- branchId: a name for the branch
- needsMoreThoughts: whether more thoughts are needed beyond the estimate"""


def _integer(description: str, *, first: bool = False) -> dict[str, Any]:
    bounds: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_SAFE_INTEGER}
    if first:  # the required ones list "type" first, as the reference's schema does
        return {**bounds, "description": description}
    return {"description": description, **bounds}


def _boolean(description: str) -> dict[str, Any]:
    return {"description": description, "type": ["boolean", "string"]}


INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "thought": {"type": "string", "description": "Your current thinking step"},
        "nextThoughtNeeded": _boolean("Whether another thought step is needed"),
        "thoughtNumber": _integer("Current thought number (numeric value, e.g., 1, 2, 3)", first=True),
        "totalThoughts": _integer("Estimated total thoughts needed (numeric value, e.g., 5, 10)", first=True),
        "isRevision": _boolean("Whether this revises previous thinking"),
        "revisesThought": _integer("Which thought is being reconsidered"),
        "branchFromThought": _integer("Branching point thought number"),
        "branchId": {"description": "Branch identifier", "type": "string"},
        "needsMoreThoughts": _boolean("If more thoughts are needed"),
    },
    "required": ["thought", "nextThoughtNeeded", "thoughtNumber", "totalThoughts"],
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "thoughtNumber": {"type": "number"},
        "totalThoughts": {"type": "number"},
        "nextThoughtNeeded": {"type": "boolean"},
        "branches": {"type": "array", "items": {"type": "string"}},
        "thoughtHistoryLength": {"type": "number"},
    },
    "required": ["thoughtNumber", "totalThoughts", "nextThoughtNeeded", "branches", "thoughtHistoryLength"],
    "additionalProperties": False,
}

ANNOTATIONS: dict[str, bool] = {
    "readOnlyHint": True,
    "destructiveHint": False,
    "idempotentHint": True,
    "openWorldHint": False,
}
