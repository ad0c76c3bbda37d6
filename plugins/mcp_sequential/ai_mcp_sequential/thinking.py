"""The sequential-thinking tool itself: validation, coercion, state and the result text.

Pure Python, no MCP import. It follows the contract of the reference server published on npm as
``@modelcontextprotocol/server-sequential-thinking`` (whose arguments go through zod v4 and
JavaScript's ``Number()``), so the same arguments give the same result or the same error text:

- integer fields take what ``Number()`` takes (``"2"``, ``" 0x1A "``, ``"1e3"``, ``true``, ``[5]``)
  and must then be a safe integer of at least 1;
- boolean fields take booleans and the strings ``"true"`` / ``"false"`` in any case;
- ``totalThoughts`` is raised to ``thoughtNumber`` when the latter exceeds it;
- a thought is recorded under a branch when ``branchFromThought`` and a non-empty ``branchId``
  are both present; ``branches`` lists branch ids as a JavaScript object lists its keys
  (integer-like ids first, ascending, then the others in first-seen order).
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIELDS",
    "MAX_SAFE_INTEGER",
    "TOOL_NAME",
    "ThoughtData",
    "ThoughtHistory",
    "ToolOutcome",
    "format_thought",
    "unknown_tool",
    "validate_arguments",
]

TOOL_NAME = "sequentialthinking"
MAX_SAFE_INTEGER = 2**53 - 1

# The fields in the order the reference validates (and reports) them.
_STRING, _BOOLEAN, _INTEGER = "string", "boolean", "integer"
FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("thought", _STRING, True),
    ("nextThoughtNeeded", _BOOLEAN, True),
    ("thoughtNumber", _INTEGER, True),
    ("totalThoughts", _INTEGER, True),
    ("isRevision", _BOOLEAN, False),
    ("revisesThought", _INTEGER, False),
    ("branchFromThought", _INTEGER, False),
    ("branchId", _STRING, False),
    ("needsMoreThoughts", _BOOLEAN, False),
)

# JavaScript's StrWhiteSpaceChar: WhiteSpace (incl. U+FEFF and category Zs) and LineTerminator.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_NON_DECIMAL = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_NON_DECIMAL_DIGITS = {16: re.compile(r"[0-9a-fA-F]+"), 8: re.compile(r"[0-7]+"), 2: re.compile(r"[01]+")}
_ARRAY_INDEX_LIMIT = 2**32 - 1


@dataclass(frozen=True, slots=True)
class ThoughtData:
    """One accepted thought, after coercion (``total_thoughts`` already raised)."""

    thought: str
    thought_number: int
    total_thoughts: int
    next_thought_needed: bool
    is_revision: bool | None = None
    revises_thought: int | None = None
    branch_from_thought: int | None = None
    branch_id: str | None = None
    needs_more_thoughts: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What one call returns: the text item, the structured content (None on error), the flag."""

    text: str
    structured: dict[str, Any] | None
    is_error: bool


# ---------------------------------------------------------------------------
# Coercion, as zod's z.coerce.number() (JavaScript Number()) and the reference's boolean union
# ---------------------------------------------------------------------------


def _string_to_number(text: str) -> float:
    """JavaScript's StringToNumber: trimmed; empty is 0; decimal, Infinity or 0x/0o/0b (unsigned)."""
    text = text.strip(_JS_WHITESPACE)
    if not text:
        return 0.0
    base = _NON_DECIMAL.get(text[:2])
    if base is not None:
        digits = text[2:]
        if not _NON_DECIMAL_DIGITS[base].fullmatch(digits):
            return math.nan
        return _int_to_float(int(digits, base))
    if not _DECIMAL.fullmatch(text):
        return math.nan
    if text.lstrip("+-") == "Infinity":
        return -math.inf if text.startswith("-") else math.inf
    return float(text)  # float() rounds a decimal string to the nearest double, as JavaScript does


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:  # beyond the largest double: JavaScript reads it as Infinity
        return math.inf if value > 0 else -math.inf


def _to_number(value: Any) -> float:
    """JavaScript's ``Number(value)`` for a JSON value."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int):
        return _int_to_float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, list):
        # An array becomes the string of its elements joined by ","; two or more always hold a
        # comma (NaN), none is "" (0), one is that element's own string.
        if not value:
            return 0.0
        if len(value) > 1:
            return math.nan
        [item] = value
        if item is None:
            return 0.0
        if isinstance(item, bool | dict):
            return math.nan  # "true", "false", "[object Object]"
        return _to_number(item)
    return math.nan  # an object: "[object Object]"


def _type_name(value: Any) -> str:
    """zod's name for a value's type in "expected X, received Y"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_integer(value: Any, issues: list[str]) -> int | None:
    number = _to_number(value)
    if math.isnan(number):
        issues.append("Invalid input: expected number, received NaN")
        return None
    if math.isinf(number):
        issues.append(f"Invalid input: expected number, received {'-' if number < 0 else ''}Infinity")
        return None
    if not number.is_integer():
        issues.append("Invalid input: expected int, received number")
        return None
    ok = True
    if number > MAX_SAFE_INTEGER:
        issues.append(f"Too big: expected int to be <={MAX_SAFE_INTEGER}")
        ok = False
    elif number < -MAX_SAFE_INTEGER:
        issues.append(f"Too small: expected int to be >=-{MAX_SAFE_INTEGER}")
        ok = False
    if number < 1:
        issues.append("Too small: expected number to be >=1")
        ok = False
    return int(number) if ok else None


def _check_boolean(value: Any, issues: list[str]) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        issues.append(f'Expected boolean or "true"/"false" string, received "{value}"')
        return None
    issues.append("Invalid input")
    return None


def _check_string(value: Any, issues: list[str]) -> str | None:
    if isinstance(value, str):
        return value
    issues.append(f"Invalid input: expected string, received {_type_name(value)}")
    return None


_CHECKS = {_STRING: _check_string, _BOOLEAN: _check_boolean, _INTEGER: _check_integer}
_MISSING = object()


def validate_arguments(arguments: Mapping[str, Any] | None) -> ThoughtData | str:
    """The coerced thought, or the error text the reference gives for these arguments.

    Every field is checked, in the schema's order, and every problem is reported, one per line,
    each followed by `` at <field>``. Unknown keys are ignored.
    """
    arguments = arguments or {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, kind, required in FIELDS:
        raw = arguments.get(name, _MISSING)
        if raw is _MISSING:
            if not required:
                continue
            issues: list[str] = []
            if kind == _STRING:
                issues.append("Invalid input: expected string, received undefined")
            elif kind == _BOOLEAN:
                issues.append("Invalid input")
            else:
                issues.append("Invalid input: expected number, received NaN")
        else:
            issues = []
            values[name] = _CHECKS[kind](raw, issues)
        problems.extend(f"{issue} at {name}" for issue in issues)
    if problems:
        return f"MCP error -32602: Input validation error: Invalid arguments for tool {TOOL_NAME}: " + "\n".join(
            problems
        )
    thought_number = values["thoughtNumber"]
    return ThoughtData(
        thought=values["thought"],
        thought_number=thought_number,
        total_thoughts=max(values["totalThoughts"], thought_number),
        next_thought_needed=values["nextThoughtNeeded"],
        is_revision=values.get("isRevision"),
        revises_thought=values.get("revisesThought"),
        branch_from_thought=values.get("branchFromThought"),
        branch_id=values.get("branchId"),
        needs_more_thoughts=values.get("needsMoreThoughts"),
    )


def unknown_tool(name: str) -> ToolOutcome:
    """The reference's answer to a tool name it does not have."""
    return ToolOutcome(text=f"MCP error -32602: Tool {name} not found", structured=None, is_error=True)


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------


def _is_array_index(key: str) -> bool:
    """True when a JavaScript object lists ``key`` first, among the integer-like keys."""
    return key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < _ARRAY_INDEX_LIMIT


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _to_json_text(value: dict[str, Any]) -> str:
    """``JSON.stringify(value, null, 2)``: non-ASCII kept, lone surrogates escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class ThoughtHistory:
    """The thoughts of one conversation (or one session) and its branches.

    ``length`` counts every accepted thought; only the last ``max_thoughts`` are kept in
    :attr:`thoughts`, so a very long session stays bounded in memory.
    """

    def __init__(self, *, max_thoughts: int = 10_000) -> None:
        self.thoughts: deque[ThoughtData] = deque(maxlen=max_thoughts)
        self.length = 0
        self.branches: dict[str, list[ThoughtData]] = {}

    def add(self, data: ThoughtData) -> ToolOutcome:
        """Record one validated thought and return the reference's result for it."""
        self.thoughts.append(data)
        self.length += 1
        if data.branch_from_thought and data.branch_id:
            self.branches.setdefault(data.branch_id, []).append(data)
        result = {
            "thoughtNumber": data.thought_number,
            "totalThoughts": data.total_thoughts,
            "nextThoughtNeeded": data.next_thought_needed,
            "branches": self.branch_ids(),
            "thoughtHistoryLength": self.length,
        }
        return ToolOutcome(text=_to_json_text(result), structured=result, is_error=False)

    def call(self, arguments: Mapping[str, Any] | None) -> ToolOutcome:
        """Validate ``arguments`` and record the thought: one ``sequentialthinking`` call."""
        checked = validate_arguments(arguments)
        if isinstance(checked, str):
            return ToolOutcome(text=checked, structured=None, is_error=True)
        return self.add(checked)

    def branch_ids(self) -> list[str]:
        """Branch ids in the order a JavaScript object lists its keys."""
        indices = sorted((k for k in self.branches if _is_array_index(k)), key=int)
        return indices + [k for k in self.branches if not _is_array_index(k)]

    def replay(self, thoughts: Iterable[ThoughtData]) -> None:
        for data in thoughts:
            self.add(data)


# ---------------------------------------------------------------------------
# The stderr log line of the reference (a box per thought)
# ---------------------------------------------------------------------------


def _js_length(text: str) -> int:
    """A JavaScript string's length (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _js(value: object) -> str:
    return "undefined" if value is None else str(value)


def format_thought(data: ThoughtData) -> str:
    """The box the reference draws on stderr for a thought (without colours)."""
    if data.is_revision:
        prefix, context = "🔄 Revision", f" (revising thought {_js(data.revises_thought)})"
    elif data.branch_from_thought:
        prefix, context = "🌿 Branch", f" (from thought {data.branch_from_thought}, ID: {_js(data.branch_id)})"
    else:
        prefix, context = "💭 Thought", ""
    header = f"{prefix} {data.thought_number}/{data.total_thoughts}{context}"
    width = max(_js_length(header), _js_length(data.thought)) + 4
    border = "─" * width
    body = data.thought + " " * max(0, width - 2 - _js_length(data.thought))
    return f"\n┌{border}┐\n│ {header} │\n├{border}┤\n│ {body} │\n└{border}┘"
