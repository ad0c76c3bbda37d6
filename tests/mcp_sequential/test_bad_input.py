"""Random arguments, good and bad: ours answers exactly what the npm reference answers.

Hypothesis draws the values a model might send (numbers as strings, hex, exponents, padding,
arrays, nulls, objects, odd booleans, unknown keys); each drawn call goes to the reference and to
ours, both over stdio and kept running for the whole module (an anyio portal holds the clients),
and the results are compared field by field. Histories stay in step, since both get every call.

One difference is left out on purpose: a ``branchId`` naming a property of JavaScript's
``Object.prototype`` (``__proto__``, ``constructor``, ...) makes the reference fail with a
TypeError after recording the thought; ours records an ordinary branch (see
:func:`test_prototype_names_are_ordinary_branch_ids`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_sequential.helpers import Wire, ours_command, reference_command, stdio_client_to

from ai_mcp_sequential.thinking import FIELDS, MAX_SAFE_INTEGER, ThoughtData, validate_arguments

T = "sequentialthinking"
PROTOTYPE_NAMES = {
    "__proto__", "constructor", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toString",
    "valueOf", "toLocaleString", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
}  # fmt: skip

NUMBER_TEXT = [
    "", " 7 ", "0x1f", "0X1F", "0b101", "0o17", "1e2", "1E1", "1.0", "1.5", "+3", "-0", "007", "Infinity",
    "-Infinity", "NaN", "1_000", "\u00a05\ufeff", "\u20285", "\u180e5", "\u0663", "abc", "0x", "1e", ".5e1",
    "5.", "9007199254740991", "9007199254740992", "1e400", "-0x10", "+0x10", "0x1G", "1 2",
]  # fmt: skip
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 30), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6)
)
numberish = st.one_of(
    st.integers(-3, 30),
    st.sampled_from([0, 1, MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 10**30, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-3, 40).map(str),
    st.sampled_from(NUMBER_TEXT),
    st.lists(st.one_of(st.none(), st.integers(0, 9), st.sampled_from(["4", "", "x", "0x2"])), max_size=2),
    st.lists(st.lists(st.integers(1, 9), max_size=1), max_size=1),
    st.none(),
    st.booleans(),
    st.just({}),
)
boolish = st.one_of(
    st.booleans(),
    st.sampled_from(["true", "false", "TRUE", "False", "tRuE", "yes", "", "0", "1", " true"]),
    st.text(max_size=5),
    st.none(),
    st.integers(0, 1),
    st.just([]),
    st.just({}),
)
stringish = st.one_of(st.text(max_size=12), st.none(), st.integers(0, 3), st.booleans(), st.just([]), st.just({}))
branch_id = st.one_of(
    st.sampled_from(["a", "b", "1", "2", "10", "01", "-1", "1.0", "4294967294", "4294967295", ""]),
    st.text(max_size=6),
).filter(lambda s: s not in PROTOTYPE_NAMES)

KINDS = {"string": stringish, "boolean": boolish, "integer": numberish}


@st.composite
def arguments(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly sensible calls (so histories and branches grow), with bad values mixed in."""
    drawn: dict[str, Any] = draw(st.dictionaries(st.text(max_size=4), json_scalar, max_size=2))
    for name, kind, required in FIELDS:
        if draw(st.integers(0, 9)) == 0 if required else draw(st.booleans()):
            continue  # missing: rarely for a required field, half the time for an optional one
        sensible = draw(st.integers(0, 2)) > 0
        if name == "branchId":
            drawn[name] = draw(branch_id if sensible else stringish)
        elif sensible:
            drawn[name] = draw({"string": st.text(max_size=12), "boolean": st.booleans(),
                                "integer": st.integers(1, 12)}[kind])  # fmt: skip
        else:
            drawn[name] = draw(KINDS[kind])
    return drawn


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any, Wire]]:
    """The reference and ours over stdio, each with one long session, driven from a portal."""
    from anyio.from_thread import start_blocking_portal

    where = tmp_path_factory.mktemp("random")
    reference = stdio_client_to(reference_command(), where / "reference.jsonl")
    ours_wire = Wire(where / "ours.jsonl")
    ours = stdio_client_to(ours_command(), ours_wire.path, mode="auto")
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(reference) as theirs,
        portal.wrap_async_context_manager(ours) as mine,
    ):
        yield portal, theirs, mine, ours_wire


def dumped(result: Any) -> dict[str, Any]:
    """A result without the 2026-07-28 ``serverInfo`` stamp (the reference speaks 2025-11-25)."""
    out: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    out.pop("_meta", None)
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(arguments(), min_size=1, max_size=3))
def test_random_calls_give_the_reference_s_results(both: tuple[Any, Any, Any, Wire], calls: list[Any]) -> None:
    portal, theirs, mine, _ = both
    for call in calls:
        expected = dumped(portal.call(theirs.call_tool, T, call))
        got = dumped(portal.call(mine.call_tool, T, call))
        assert got == expected, call


def test_the_random_session_spoke_2026_07_28_by_the_schema(both: tuple[Any, Any, Any, Wire]) -> None:
    portal, _, mine, wire = both
    portal.call(mine.call_tool, T, {"thought": "x", "nextThoughtNeeded": "no"})
    assert wire.protocol_version() == "2026-07-28"
    assert wire.schema_problems() == []


def test_prototype_names_are_ordinary_branch_ids(both: tuple[Any, Any, Any, Wire]) -> None:
    """The deliberate difference: the reference fails (and still counts the thought)."""
    portal, theirs, mine, _ = both
    call = {"thought": "t", "nextThoughtNeeded": True, "thoughtNumber": 1, "totalThoughts": 1,
            "branchFromThought": 1, "branchId": "__proto__"}  # fmt: skip
    reference = dumped(portal.call(theirs.call_tool, T, call))
    assert reference["isError"] is True
    assert "push is not a function" in reference["content"][0]["text"]
    ours = dumped(portal.call(mine.call_tool, T, call))
    assert ours["isError"] is False and "__proto__" in ours["structuredContent"]["branches"]
    # Both recorded the thought, so the counts stay in step for the tests that follow.
    after = {**call, "branchId": "z"}
    assert (
        dumped(portal.call(theirs.call_tool, T, after))["structuredContent"]["thoughtHistoryLength"]
        == dumped(portal.call(mine.call_tool, T, after))["structuredContent"]["thoughtHistoryLength"]
    )


# ---------------------------------------------------------------------------
# Without processes: validation never raises, and says exactly what is wrong
# ---------------------------------------------------------------------------

json_value = st.recursive(json_scalar | st.integers() | st.floats(), lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([f[0] for f in FIELDS] + ["other"]), json_value) | st.none())
def test_validation_never_raises(arguments: dict[str, Any] | None) -> None:
    checked = validate_arguments(arguments)
    if isinstance(checked, ThoughtData):
        assert 1 <= checked.thought_number <= checked.total_thoughts <= MAX_SAFE_INTEGER
        assert isinstance(checked.next_thought_needed, bool)
        return
    prefix = "MCP error -32602: Input validation error: Invalid arguments for tool sequentialthinking: "
    assert checked.startswith(prefix)
    if any(isinstance(v, str) and "\n" in v for v in (arguments or {}).values()):
        return  # a refused string is quoted as it is, newlines and all: lines are not problems then
    fields = [line.rsplit(" at ", 1)[1] for line in checked.removeprefix(prefix).split("\n")]
    order = [f[0] for f in FIELDS]
    assert fields == sorted(fields, key=order.index)  # in the schema's order
    assert all(field in order for field in fields)


@given(st.integers(min_value=1, max_value=MAX_SAFE_INTEGER), st.sampled_from(["{}", " {} ", "{}.0", "{}e0", "[{}]"]))
def test_integers_in_any_spelling(number: int, spelling: str) -> None:
    value: Any = [number] if spelling == "[{}]" else spelling.format(number)
    checked = validate_arguments({"thought": "", "nextThoughtNeeded": "TRUE", "thoughtNumber": value,
                                  "totalThoughts": 1})  # fmt: skip
    assert isinstance(checked, ThoughtData)
    assert checked.thought_number == checked.total_thoughts == number
    assert checked.next_thought_needed is True and not math.isnan(checked.thought_number)


@settings(max_examples=200, deadline=None)
@given(
    meta=st.none()
    | st.dictionaries(st.sampled_from(["ai_core", "other"]), json_value)
    | st.fixed_dictionaries(
        {"ai_core": st.fixed_dictionaries(
            {"conversation_id": st.text(max_size=3) | json_value},
            optional={"earlier_calls": st.lists(
                st.fixed_dictionaries({}, optional={"name": st.sampled_from([T, "x__" + T, "other"]) | json_value,
                                                    "arguments": arguments() | json_value,
                                                    "is_error": st.booleans() | json_value})) | json_value},
        )}
    ),
    call=arguments(),
)  # fmt: skip
def test_any_meta_is_a_conversation_or_the_session(meta: Any, call: dict[str, Any]) -> None:
    """Whatever arrives in ``_meta``, a call is answered as the reference would answer it alone."""
    from ai_mcp_sequential import SequentialThinking, ThoughtHistory

    thinking, session = SequentialThinking(max_conversations=2), ThoughtHistory()
    outcome = thinking.call(T, call, meta=meta, session=session)
    alone = ThoughtHistory().call(call)
    assert outcome.is_error == alone.is_error
    if outcome.is_error:
        assert outcome.text == alone.text
    else:
        assert outcome.structured is not None and alone.structured is not None
        assert outcome.structured["thoughtNumber"] == alone.structured["thoughtNumber"]
        assert outcome.structured["thoughtHistoryLength"] >= 1
