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
from ai_core.types import Message
from ai_core.types import ChatResponse, StreamCompleted, TextDelta, ToolCallPart, UsageReported


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


class DropsSystem(FakeDriver):
    async def send(self, request):
        return await super().send(request.model_copy(update={"system": None}))

    async def stream(self, request):
        async for event in super().stream(request.model_copy(update={"system": None})):
            yield event


def _without_tool_turns(request):
    kept = [m for m in request.messages if m.role != "tool" and not m.tool_calls]
    return request.model_copy(update={"messages": kept})


class DropsToolResults(FakeDriver):
    async def send(self, request):
        return await super().send(_without_tool_turns(request))

    async def stream(self, request):
        async for event in super().stream(_without_tool_turns(request)):
            yield event


def _cache_apart(usage):
    # The Anthropic mistake: cache reads reported beside input_tokens instead of inside it.
    return usage.model_copy(
        update={
            "input_tokens": usage.input_tokens - usage.cached_input_tokens,
            "total_tokens": usage.total_tokens - usage.cached_input_tokens,
        }
    )


class CacheApart(FakeDriver):
    async def send(self, request):
        response = await super().send(request)
        return response.model_copy(update={"usage": _cache_apart(response.usage)})

    async def stream(self, request):
        async for event in super().stream(request):
            if isinstance(event, StreamCompleted):
                usage = _cache_apart(event.response.usage)
                event = StreamCompleted(event.response.model_copy(update={"usage": usage}))
            elif isinstance(event, UsageReported):
                event = UsageReported(_cache_apart(event.usage))
            yield event


class SwallowsStreamError(FakeDriver):
    async def stream(self, request):
        text = []
        try:
            async for event in super().stream(request):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                yield event
        except errors.ProviderError:
            yield StreamCompleted(ChatResponse(provider=self.provider, model=request.model,
                                               message=Message.assistant("".join(text)), finish_reason="stop"))


class UsageThenError(FakeDriver):
    # Sound for a wire that reports usage early: the usage so far, then the error.
    async def stream(self, request):
        cut = request.provider_options.get("fake_stream_error_after")
        usage = (await super().send(request)).usage if cut else None
        async for event in super().stream(request):
            if usage is not None and isinstance(event, TextDelta):
                yield UsageReported(usage)
                usage = None
            yield event


def suite(driver_class, **profile):
    class Suite(DriverConformance):
        @pytest.fixture
        def anyio_backend(self):
            return "asyncio"

        @pytest.fixture
        def conformance_driver(self):
            return driver_class()

        @pytest.fixture
        def conformance_double(self, conformance_driver):
            return FakeDouble(conformance_driver)

        @pytest.fixture
        def conformance_profile(self):
            return ConformanceProfile(model="echo", **profile)

    return Suite


TestUsageDrift = suite(UsageDrift)
TestLostDelta = suite(LostDelta)
TestTwoCompleted = suite(TwoCompleted)
TestRawErrors = suite(RawErrors)
TestArgumentsAsText = suite(ArgumentsAsText)
TestReversedBatch = suite(ReversedBatch)
TestCloseTwiceFails = suite(CloseTwiceFails)
TestDropsSystem = suite(DropsSystem)
TestDropsToolResults = suite(DropsToolResults)
TestCacheApart = suite(CacheApart)
TestSwallowsStreamError = suite(SwallowsStreamError)
TestNoUsageOnCut = suite(FakeDriver, usage_before_end=True)
TestUsageThenError = suite(UsageThenError, usage_before_end=True)
TestSound = suite(FakeDriver)
"""

MID_STREAM = "test_error_mid_stream_is_raised_after_the_text_delivered"
EXPECTED_FAILURES = {
    "TestUsageDrift": {"test_stream_usage_equals_send_usage"},
    "TestLostDelta": {"test_stream_yields_deltas_then_one_completed", MID_STREAM},
    "TestTwoCompleted": {
        "test_stream_yields_deltas_then_one_completed",
        "test_stream_usage_equals_send_usage",
        "test_tool_call_stream",
        "test_system_prompt_reaches_the_provider",
        "test_tool_result_round_trip",
        "test_cached_tokens_are_part_of_input_tokens",
    },
    "TestRawErrors": {"test_send_maps_errors", "test_send_batch_keeps_order_and_errors_in_place"},
    "TestArgumentsAsText": {"test_tool_call_send"},
    "TestReversedBatch": {"test_send_batch_keeps_order_and_errors_in_place"},
    "TestCloseTwiceFails": {"test_aclose_is_idempotent"},
    "TestDropsSystem": {"test_system_prompt_reaches_the_provider"},
    "TestDropsToolResults": {"test_tool_result_round_trip"},
    "TestCacheApart": {"test_cached_tokens_are_part_of_input_tokens"},
    "TestSwallowsStreamError": {"test_stream_maps_errors", MID_STREAM},
    "TestNoUsageOnCut": {MID_STREAM},
    "TestUsageThenError": set(),
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
    assert passed > 300  # the sound driver and the unaffected checks of the others ran and passed


SOUND_ON_BOTH_BACKENDS = """
import pytest
from ai_core.drivers.fake import FakeDriver
from ai_core.testing import ConformanceProfile, DriverConformance, FakeDouble


class TestFake(DriverConformance):
    @pytest.fixture
    def conformance_driver(self):
        return FakeDriver()

    @pytest.fixture
    def conformance_double(self, conformance_driver):
        return FakeDouble(conformance_driver)

    @pytest.fixture
    def conformance_profile(self):
        return ConformanceProfile(model="echo")
"""


def test_without_trio_the_trio_runs_skip_saying_why(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """trio comes with ai-core[testing]; without it the suite still runs on asyncio and says what is missing."""
    # A trio that cannot be imported, first on the path: as if it were not installed.
    (pytester.path / "stand_in").mkdir()
    (pytester.path / "stand_in" / "trio.py").write_text("raise ImportError('No module named trio')\n")
    monkeypatch.setenv("PYTHONPATH", str(pytester.path / "stand_in"))
    pytester.makepyfile(test_sound=SOUND_ON_BOTH_BACKENDS)
    # (hypothesis would load trio's entry point, which only an installed trio declares)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] == outcomes["skipped"] > 20  # every check once per backend: asyncio ran, trio skipped
    assert 'trio is not installed: pip install "ai-core[testing]"' in result.stdout.str()
