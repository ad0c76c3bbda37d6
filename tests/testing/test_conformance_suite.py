"""The conformance suite catches broken drivers, each bug in the check named for it.

Each broken driver is the fake with one deliberate defect. The inner pytest run
must fail exactly the checks that defect breaks, and pass all the others: a
suite that fails everything (or nothing) proves nothing.
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

BROKEN = """
import json
import pytest
from ai_core import errors
from ai_core.drivers.fake import FakeDriver
from ai_core.testing import ConformanceProfile, DriverConformance, FakeDouble
from ai_core.types import ChatResponse, StreamCompleted, TextDelta, ToolCallPart


class UsageDrift(FakeDriver):
    async def stream(self, request):
        async for event in super().stream(request):
            if isinstance(event, StreamCompleted):
                usage = event.response.usage
                usage = usage.model_copy(
                    update={"output_tokens": usage.output_tokens + 1, "total_tokens": usage.total_tokens + 1}
                )
                event = StreamCompleted(event.response.model_copy(update={"usage": usage}))
            yield event


class LostDelta(FakeDriver):
    async def stream(self, request):
        dropped = False
        async for event in super().stream(request):
            if isinstance(event, TextDelta) and not dropped:
                dropped = True
                continue
            yield event


class TwoCompleted(FakeDriver):
    async def stream(self, request):
        async for event in super().stream(request):
            yield event
            if isinstance(event, StreamCompleted):
                yield event


class RawErrors(FakeDriver):
    async def send(self, request):
        try:
            return await super().send(request)
        except errors.ProviderError as exc:
            raise errors.ProviderError(str(exc)) from exc


class ArgumentsAsText(FakeDriver):
    async def send(self, request):
        response = await super().send(request)
        calls = [
            ToolCallPart(id=c.id, name=c.name, arguments={"arguments": json.dumps(c.arguments)})
            for c in response.tool_calls
        ]
        if not calls:
            return response
        return response.model_copy(update={"message": response.message.model_copy(update={"parts": calls})})


class ReversedBatch(FakeDriver):
    async def send_batch(self, requests, *, concurrency=8):
        return list(reversed(await super().send_batch(requests, concurrency=concurrency)))


class CloseTwiceFails(FakeDriver):
    closed = False

    async def aclose(self):
        if self.closed:
            raise RuntimeError("already closed")
        self.closed = True


def suite(driver_class):
    class Suite(DriverConformance):
        @pytest.fixture
        def anyio_backend(self):
            return "asyncio"

        @pytest.fixture
        def conformance_driver(self):
            return driver_class()

        @pytest.fixture
        def conformance_double(self):
            return FakeDouble()

        @pytest.fixture
        def conformance_profile(self):
            return ConformanceProfile(model="echo")

    return Suite


TestUsageDrift = suite(UsageDrift)
TestLostDelta = suite(LostDelta)
TestTwoCompleted = suite(TwoCompleted)
TestRawErrors = suite(RawErrors)
TestArgumentsAsText = suite(ArgumentsAsText)
TestReversedBatch = suite(ReversedBatch)
TestCloseTwiceFails = suite(CloseTwiceFails)
TestSound = suite(FakeDriver)
"""

EXPECTED_FAILURES = {
    "TestUsageDrift": {"test_stream_usage_equals_send_usage"},
    "TestLostDelta": {"test_stream_yields_deltas_then_one_completed"},
    "TestTwoCompleted": {
        "test_stream_yields_deltas_then_one_completed",
        "test_stream_usage_equals_send_usage",
        "test_tool_call_stream",
    },
    "TestRawErrors": {"test_send_maps_errors", "test_send_batch_keeps_order_and_errors_in_place"},
    "TestArgumentsAsText": {"test_tool_call_send"},
    "TestReversedBatch": {"test_send_batch_keeps_order_and_errors_in_place"},
    "TestCloseTwiceFails": {"test_aclose_is_idempotent"},
    "TestSound": set(),
}


def test_each_defect_fails_exactly_its_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=BROKEN)
    # A subprocess: an in-process run would drop the modules it imported first.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    failed: dict[str, set[str]] = {name: set() for name in EXPECTED_FAILURES}
    passed = 0
    for line in result.outlines:
        match = re.match(r"(PASSED|FAILED|ERROR) test_broken\.py::(\w+)::(\w+)", line)
        if match is None:
            continue
        if match.group(1) == "PASSED":
            passed += 1
        else:
            failed[match.group(2)].add(match.group(3))
    assert failed == EXPECTED_FAILURES
    assert passed > 100  # the sound driver and the unaffected checks of the others ran and passed
