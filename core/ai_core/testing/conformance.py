"""The driver conformance suite: one set of checks every driver must pass.

A provider plugin (ours or a third party's) subclasses :class:`DriverConformance`
in its tests and supplies three fixtures; pytest then runs every check below
against its driver and local server double, on asyncio and on trio:

    class TestMyDriver(DriverConformance):
        @pytest.fixture
        def conformance_double(self, my_server):          # started by you, on 127.0.0.1
            return MyServerDouble(my_server)               # a ConformanceDouble

        @pytest.fixture
        def conformance_driver(self, my_server):
            return MyDriver(ProviderConfig(provider="mine", api_key=SecretStr("k"), base_url=my_server.url))

        @pytest.fixture
        def conformance_profile(self):
            return ConformanceProfile(model="my-model", vision=False)

The class is named without ``Test`` so pytest collects it only through a
subclass. Each check is one test, so a failure names the broken behaviour.
``pip install "ai-core[testing]"`` brings what it needs (pytest, trio); without
trio the trio runs skip, saying so.

What it checks: send and stream end in the same response and usage; tool
calls (sent and streamed) and a tool result sent back; the system prompt
reaching the provider; images and structured output; cache reads counted as
part of ``input_tokens``; HTTP errors mapped to the error classes, and an
error arriving part-way through a stream raised as a typed error after the
text delivered so far (with the usage reported so far, where the wire reports
usage early); batches; credentials; closing; the whole pipeline's cost. The
features checked are the ones the provider declares: its ``ProviderSpec``'s
capabilities when ``conformance_registry`` registers the provider, else the
driver's own attribute.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

import pytest

from ai_core import errors
from ai_core.testing.doubles import (
    CachedReply,
    ConformanceDouble,
    ConformanceProfile,
    ErrorReply,
    JsonReply,
    Received,
    Reply,
    StreamErrorReply,
    TextReply,
    ToolCallReply,
)
from ai_core.types import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    ResponseFormat,
    StreamCompleted,
    StreamEvent,
    TextDelta,
    ToolCallPart,
    ToolSpec,
    UsageReported,
)

if TYPE_CHECKING:
    from ai_core.drivers.base import Driver
    from ai_core.plugins import PluginRegistry

__all__ = ["DriverConformance"]

WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
WEATHER_ARGUMENTS = {"city": "Paris", "days": 2}
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}
# A 1x1 transparent PNG: the smallest image every vision API accepts.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
ERROR_CASES = [
    (401, errors.AuthenticationError),
    (429, errors.RateLimitError),
    (500, errors.ProviderUnavailableError),
    (503, errors.ProviderUnavailableError),
]
SYSTEM_PROMPT = "You are a terse assistant. Answer in at most five words."
WEATHER_RESULT = "18 degrees and sunny"
# A prompt long enough to have a cached prefix (providers cache from about 1024 tokens; doubles need not care).
LONG_PROMPT = "Summarise this report in one line. " + " ".join(
    f"Section {n}: the quarterly figures were steady, costs fell and the outlook is unchanged." for n in range(1, 7)
)


@cache
def _trio_missing() -> str | None:
    """Why the trio runs cannot happen here, or ``None`` when trio is installed."""
    try:
        import trio  # noqa: F401
    except ImportError:
        return 'trio is not installed: pip install "ai-core[testing]" to run the conformance suite on trio too'
    return None


@asynccontextmanager
async def _closing(driver: Driver) -> AsyncIterator[Driver]:
    try:
        yield driver
    finally:
        await driver.aclose()


async def _collect(driver: Driver, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in driver.stream(request)]


def _completed(events: list[StreamEvent]) -> ChatResponse:
    assert events, "the stream yielded nothing"
    finals = [event for event in events if isinstance(event, StreamCompleted)]
    assert len(finals) == 1, f"expected exactly one StreamCompleted, got {len(finals)}"
    assert isinstance(events[-1], StreamCompleted), (
        f"StreamCompleted must come last, got {type(events[-1]).__name__} after it"
    )
    return finals[0].response


def _calls(response: ChatResponse) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in response.tool_calls]


class DriverConformance:
    """Checks for one driver; subclass it in a ``test_*.py`` module.

    Required fixtures: ``conformance_driver`` (a fresh driver pointed at the
    double; the suite closes it), ``conformance_double`` (a
    :class:`~ai_core.testing.ConformanceDouble`) and ``conformance_profile``
    (a :class:`~ai_core.testing.ConformanceProfile`). Optional:
    ``conformance_bad_credentials_driver`` (a driver whose key the double
    rejects) and ``conformance_registry`` (plugins for the pipeline check;
    default: the installed ones).
    """

    # -- fixtures a subclass may override --------------------------------------

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        if request.param == "trio" and _trio_missing():
            pytest.skip(_trio_missing() or "")
        return str(request.param)

    @pytest.fixture
    def conformance_bad_credentials_driver(self) -> Driver | None:
        return None

    @pytest.fixture
    def conformance_registry(self) -> PluginRegistry:
        from ai_core.plugins import default_registry

        return default_registry()

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def make_request(
        driver: Driver, profile: ConformanceProfile, text: str | None = None, **fields: Any
    ) -> ChatRequest:
        """A request with a unique user text, so keyed doubles can tell calls apart."""
        marker = uuid.uuid4().hex[:8]
        prompt = f"[{marker}] {text or 'Say hello in a few words.'}"
        messages = fields.pop("messages", None) or [Message.user(prompt)]
        return ChatRequest(provider=driver.provider, model=profile.model, messages=messages, **fields)

    @pytest.fixture
    def conformance_capabilities(
        self, conformance_driver: Driver, conformance_registry: PluginRegistry
    ) -> tuple[str, Capabilities]:
        """Where the provider declares its capabilities, and what they are: the
        ``ProviderSpec`` the registry has for it (the declaration core enforces),
        else the driver's own attribute (a driver used without a spec)."""
        spec = conformance_registry.providers().get(conformance_driver.provider)
        if spec is not None:
            return f"ProviderSpec {spec.name!r}", spec.capabilities
        return f"{type(conformance_driver).__name__}.capabilities", conformance_driver.capabilities

    @staticmethod
    def require(
        profile: ConformanceProfile,
        driver: Driver,
        feature: str,
        declared: tuple[str, Capabilities] | None = None,
    ) -> None:
        """Skip unless the double supports ``feature``; then the provider must declare it."""
        if not getattr(profile, feature):
            pytest.skip(f"the double for {driver.provider!r} does not support {feature}")
        where, capabilities = declared or (f"{type(driver).__name__}.capabilities", driver.capabilities)
        if hasattr(capabilities, feature):
            assert getattr(capabilities, feature), (
                f"the profile says {feature} works, but {where} does not declare it (capabilities.{feature} is False)"
            )

    @staticmethod
    def received(double: ConformanceDouble, request: ChatRequest) -> Received:
        """What the double's server received for ``request``; skip when it cannot tell."""
        found = double.received(request)
        if found is None:
            pytest.skip(f"{type(double).__name__} cannot say what the server received (override received())")
        return found

    # -- send and stream -------------------------------------------------------

    @pytest.mark.anyio
    async def test_send_returns_complete_response(
        self, conformance_driver: Driver, conformance_double: ConformanceDouble, conformance_profile: ConformanceProfile
    ) -> None:
        reply = TextReply("Hello there, friend.")
        request = conformance_double.arrange(self.make_request(conformance_driver, conformance_profile), reply)
        async with _closing(conformance_driver) as driver:
            response = await driver.send(request)
        assert isinstance(response, ChatResponse)
        assert response.provider == driver.provider
        assert response.model
        assert response.text
        expected = conformance_double.expected_text(request, reply)
        if expected is not None:
            assert response.text == expected
        assert response.finish_reason == "stop"
        usage = response.usage
        assert usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    @pytest.mark.anyio
    async def test_stream_yields_deltas_then_one_completed(
        self, conformance_driver: Driver, conformance_double: ConformanceDouble, conformance_profile: ConformanceProfile
    ) -> None:
        reply = TextReply("One, two, three, four, five.")
        request = conformance_double.arrange(self.make_request(conformance_driver, conformance_profile), reply)
        async with _closing(conformance_driver) as driver:
            events = await _collect(driver, request)
        response = _completed(events)
        deltas = [event.text for event in events if isinstance(event, TextDelta)]
        assert deltas, "a text answer must arrive as TextDelta events before StreamCompleted"
        assert response.text == "".join(deltas)
        assert response.provider == driver.provider and response.model
        assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
        expected = conformance_double.expected_text(request, reply)
        if expected is not None:
            assert response.text == expected

    @pytest.mark.anyio
    async def test_stream_usage_equals_send_usage(
        self, conformance_driver: Driver, conformance_double: ConformanceDouble, conformance_profile: ConformanceProfile
    ) -> None:
        reply = TextReply("The same answer, twice.")
        base = self.make_request(conformance_driver, conformance_profile, system="Be brief.")
        sent = conformance_double.arrange(base, reply)
        streamed = conformance_double.arrange(base, reply)
        async with _closing(conformance_driver) as driver:
            unstreamed = await driver.send(sent)
            completed = _completed(await _collect(driver, streamed))
        assert completed.usage == unstreamed.usage
        assert completed.text == unstreamed.text
        assert completed.finish_reason == unstreamed.finish_reason

    # -- tools, vision, structured output --------------------------------------

    @pytest.mark.anyio
    async def test_tool_call_send(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        conformance_capabilities: tuple[str, Capabilities],
    ) -> None:
        self.require(conformance_profile, conformance_driver, "tools", conformance_capabilities)
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile, "Weather in Paris?", tools=[WEATHER_TOOL]),
            ToolCallReply(WEATHER_TOOL.name, WEATHER_ARGUMENTS),
        )
        async with _closing(conformance_driver) as driver:
            response = await driver.send(request)
        assert _calls(response) == [(WEATHER_TOOL.name, WEATHER_ARGUMENTS)]
        assert isinstance(response.tool_calls[0].arguments, dict)
        assert response.tool_calls[0].id, "a tool call needs an id to answer it with a tool result"
        assert response.finish_reason == "tool_calls"

    @pytest.mark.anyio
    async def test_tool_call_stream(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        conformance_capabilities: tuple[str, Capabilities],
    ) -> None:
        self.require(conformance_profile, conformance_driver, "tools", conformance_capabilities)
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile, "Weather in Paris?", tools=[WEATHER_TOOL]),
            ToolCallReply(WEATHER_TOOL.name, WEATHER_ARGUMENTS),
        )
        async with _closing(conformance_driver) as driver:
            response = _completed(await _collect(driver, request))
        assert _calls(response) == [(WEATHER_TOOL.name, WEATHER_ARGUMENTS)]
        assert response.tool_calls[0].id
        assert response.finish_reason == "tool_calls"
        assert response.usage.input_tokens > 0

    @pytest.mark.anyio
    async def test_image_input(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        conformance_capabilities: tuple[str, Capabilities],
    ) -> None:
        self.require(conformance_profile, conformance_driver, "vision", conformance_capabilities)
        image = ImagePart(data=TINY_PNG, media_type="image/png")
        messages = [Message.user(f"[{uuid.uuid4().hex[:8]}] What is in this image?", images=[image])]
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile, messages=messages), TextReply("A single pixel.")
        )
        async with _closing(conformance_driver) as driver:
            response = await driver.send(request)
        assert response.text
        assert response.usage.input_tokens > 0

    @pytest.mark.anyio
    async def test_json_schema_output(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        conformance_capabilities: tuple[str, Capabilities],
    ) -> None:
        self.require(conformance_profile, conformance_driver, "json_schema", conformance_capabilities)
        data = {"city": "Paris", "population": 2102650}
        request = conformance_double.arrange(
            self.make_request(
                conformance_driver,
                conformance_profile,
                "Largest city of France?",
                response_format=ResponseFormat(name="city", json_schema=CITY_SCHEMA),
            ),
            JsonReply(data),
        )
        async with _closing(conformance_driver) as driver:
            response = await driver.send(request)
        assert json.loads(response.text) == data

    # -- the conversation a provider must carry ------------------------------

    @pytest.mark.anyio
    @pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
    async def test_system_prompt_reaches_the_provider(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        streamed: bool,
    ) -> None:
        reply = TextReply("Ahoy, five words at most.")
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile, system=SYSTEM_PROMPT), reply
        )
        async with _closing(conformance_driver) as driver:
            response = _completed(await _collect(driver, request)) if streamed else await driver.send(request)
        expected = conformance_double.expected_text(request, reply)
        if expected is not None:
            assert response.text == expected
        received = self.received(conformance_double, request)
        assert received.system == SYSTEM_PROMPT, (
            f"the system prompt did not reach the provider as sent (the server got {received.system!r})"
        )

    @pytest.mark.anyio
    @pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
    async def test_tool_result_round_trip(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        conformance_capabilities: tuple[str, Capabilities],
        streamed: bool,
    ) -> None:
        """The model called a tool; the history sent back holds that call and its
        result, and the model answers in text."""
        self.require(conformance_profile, conformance_driver, "tools", conformance_capabilities)
        marker = uuid.uuid4().hex[:8]
        call = ToolCallPart(id=f"call_rt{marker}", name=WEATHER_TOOL.name, arguments=WEATHER_ARGUMENTS)
        messages = [
            Message.user(f"[{marker}] What is the weather in Paris?"),
            Message(role="assistant", parts=[call]),
            Message.tool_result(call.id, WEATHER_RESULT, name=WEATHER_TOOL.name),
        ]
        reply = TextReply("It is 18 degrees and sunny in Paris.")
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile, messages=messages, tools=[WEATHER_TOOL]), reply
        )
        async with _closing(conformance_driver) as driver:
            response = _completed(await _collect(driver, request)) if streamed else await driver.send(request)
        expected = conformance_double.expected_text(request, reply)
        if expected is not None:
            assert response.text == expected
        assert response.tool_calls == [] and response.finish_reason == "stop"
        received = self.received(conformance_double, request)
        assert received.tool_calls == ((call.id, call.name, WEATHER_ARGUMENTS),), (
            f"the assistant's tool call did not reach the provider intact: {received.tool_calls!r}"
        )
        assert received.tool_results == ((call.id, WEATHER_RESULT),), (
            f"the tool result did not reach the provider, tied to its call id: {received.tool_results!r}"
        )

    @pytest.mark.anyio
    @pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
    async def test_cached_tokens_are_part_of_input_tokens(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        streamed: bool,
    ) -> None:
        """Cache reads are priced apart but counted in ``input_tokens``, whatever
        shape the provider reports them in; otherwise a call is under-billed. A
        provider without a prompt cache (``cached_tokens=False``) must report none."""
        if not conformance_profile.cached_tokens:
            await self._no_cache_reads(conformance_driver, conformance_double, conformance_profile, streamed)
            return
        reply = CachedReply("Steady figures, lower costs.")
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile, LONG_PROMPT), reply
        )
        async with _closing(conformance_driver) as driver:
            response = _completed(await _collect(driver, request)) if streamed else await driver.send(request)
        usage = response.usage
        assert usage.cached_input_tokens == reply.cached_tokens, (
            f"cache reads: expected {reply.cached_tokens}, the driver said {usage.cached_input_tokens}"
        )
        expected = conformance_double.expected_input_tokens(request, reply)
        if expected is not None:
            assert usage.input_tokens == expected, (
                f"input_tokens must count every prompt token, cache reads and writes included: expected "
                f"{expected}, got {usage.input_tokens}"
            )
        assert usage.cached_input_tokens + usage.cache_write_tokens <= usage.input_tokens
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        assert not usage.estimated

    async def _no_cache_reads(
        self, driver: Driver, double: ConformanceDouble, profile: ConformanceProfile, streamed: bool
    ) -> None:
        reply = TextReply("Steady figures, lower costs.")
        request = double.arrange(self.make_request(driver, profile, LONG_PROMPT), reply)
        async with _closing(driver):
            response = _completed(await _collect(driver, request)) if streamed else await driver.send(request)
        usage = response.usage
        assert (usage.cached_input_tokens, usage.cache_write_tokens) == (0, 0), (
            f"a provider without a prompt cache reported cache tokens: {usage!r}"
        )
        assert usage.input_tokens > 0 and usage.total_tokens == usage.input_tokens + usage.output_tokens

    # -- errors ----------------------------------------------------------------

    @pytest.mark.anyio
    @pytest.mark.parametrize(("status", "error"), ERROR_CASES)
    async def test_send_maps_errors(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        status: int,
        error: type[errors.ProviderError],
    ) -> None:
        self.require(conformance_profile, conformance_driver, "errors")
        failure = ErrorReply(status, retry_after=2.0 if status == 429 else None)
        request = conformance_double.arrange(self.make_request(conformance_driver, conformance_profile), failure)
        async with _closing(conformance_driver) as driver:
            with pytest.raises(error) as caught:
                await driver.send(request)
        self._check_error(caught.value, conformance_double, failure, driver)

    @pytest.mark.anyio
    @pytest.mark.parametrize(("status", "error"), ERROR_CASES)
    async def test_stream_maps_errors(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        status: int,
        error: type[errors.ProviderError],
    ) -> None:
        self.require(conformance_profile, conformance_driver, "errors")
        failure = ErrorReply(status, retry_after=2.0 if status == 429 else None)
        request = conformance_double.arrange(self.make_request(conformance_driver, conformance_profile), failure)
        async with _closing(conformance_driver) as driver:
            with pytest.raises(error) as caught:
                await _collect(driver, request)
        self._check_error(caught.value, conformance_double, failure, driver)

    @pytest.mark.anyio
    async def test_error_mid_stream_is_raised_after_the_text_delivered(
        self, conformance_driver: Driver, conformance_double: ConformanceDouble, conformance_profile: ConformanceProfile
    ) -> None:
        """An error arriving inside a stream (an error event, an error chunk) is a
        typed error raised after the deltas that came before it, never a
        completed answer and never a parse error; where the wire reports usage
        before the end, the usage reported so far comes before the error."""
        self.require(conformance_profile, conformance_driver, "errors")
        if not conformance_profile.stream_errors:
            pytest.skip(f"the double for {conformance_driver.provider!r} cannot fail part-way through a stream")
        failure = StreamErrorReply("Partial answer, cut short by trouble.")
        request = conformance_double.arrange(self.make_request(conformance_driver, conformance_profile), failure)
        events: list[StreamEvent] = []
        async with _closing(conformance_driver) as driver:
            with pytest.raises(errors.ProviderError) as caught:
                async for event in driver.stream(request):
                    events.append(event)
        exc = caught.value
        assert not isinstance(exc, errors.MalformedResponseError), f"an in-stream error read as a parse error: {exc}"
        assert exc.provider == conformance_driver.provider
        if conformance_double.exact_errors:
            assert isinstance(exc, errors.ProviderUnavailableError), f"a {failure.status} mid-stream raised {exc!r}"
        assert not any(isinstance(event, StreamCompleted) for event in events), "a failed stream must not complete"
        deltas = "".join(event.text for event in events if isinstance(event, TextDelta))
        assert deltas, "the text before the error must reach the caller as TextDelta events"
        expected = conformance_double.expected_text(request, TextReply(failure.text))
        if expected is not None:
            assert expected.startswith(deltas), f"delivered {deltas!r}, not a prefix of {expected!r}"
        if conformance_profile.usage_before_end:
            # The wire reported usage before failing: it must be passed on (UsageReported, then raise),
            # so core charges the delivered part what it cost instead of an estimate.
            reported = [event.usage for event in events if isinstance(event, UsageReported)]
            assert reported, "the usage reported before the failure was not passed on (yield UsageReported, then raise)"
            assert not reported[-1].estimated
            tokens = conformance_double.expected_input_tokens(request, failure)
            if tokens is not None:
                assert reported[-1].input_tokens == tokens

    @staticmethod
    def _check_error(exc: errors.ProviderError, double: ConformanceDouble, failure: ErrorReply, driver: Driver) -> None:
        assert exc.provider == driver.provider
        if isinstance(exc, errors.RateLimitError):
            assert exc.retry_after is not None and exc.retry_after > 0, "a 429 must carry retry_after"
            if double.exact_errors:
                assert exc.retry_after == pytest.approx(failure.retry_after)
        if double.exact_errors:
            assert exc.status_code == failure.status

    # -- batch, credentials, lifetime ------------------------------------------

    @pytest.mark.anyio
    async def test_send_batch_keeps_order_and_errors_in_place(
        self, conformance_driver: Driver, conformance_double: ConformanceDouble, conformance_profile: ConformanceProfile
    ) -> None:
        self.require(conformance_profile, conformance_driver, "errors")
        replies: list[Reply] = [TextReply("First."), ErrorReply(401), TextReply("Third."), TextReply("Fourth.")]
        requests = [
            conformance_double.arrange(
                self.make_request(conformance_driver, conformance_profile, f"Request {i}"), reply
            )
            for i, reply in enumerate(replies)
        ]
        async with _closing(conformance_driver) as driver:
            results = await driver.send_batch(requests, concurrency=2)
        assert len(results) == len(requests)
        assert isinstance(results[1], errors.AuthenticationError)
        for request, reply, result in zip(requests, replies, results, strict=True):
            if isinstance(reply, TextReply):
                assert isinstance(result, ChatResponse), f"expected a response in place, got {result!r}"
                expected = conformance_double.expected_text(request, reply)
                if expected is not None:
                    assert result.text == expected

    @pytest.mark.anyio
    async def test_validate_credentials_returns_bool(
        self, conformance_driver: Driver, conformance_bad_credentials_driver: Driver | None
    ) -> None:
        async with _closing(conformance_driver) as driver:
            assert await driver.validate_credentials() is True
        if conformance_bad_credentials_driver is not None:
            async with _closing(conformance_bad_credentials_driver) as bad:
                assert await bad.validate_credentials() is False

    @pytest.mark.anyio
    async def test_aclose_is_idempotent(
        self, conformance_driver: Driver, conformance_double: ConformanceDouble, conformance_profile: ConformanceProfile
    ) -> None:
        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile), TextReply("Hi.")
        )
        await conformance_driver.aclose()  # before any use: nothing to release
        await conformance_driver.send(request)
        await conformance_driver.aclose()
        await conformance_driver.aclose()

    # -- the whole pipeline ----------------------------------------------------

    @pytest.mark.anyio
    @pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
    async def test_pipeline_attaches_cost(
        self,
        conformance_driver: Driver,
        conformance_double: ConformanceDouble,
        conformance_profile: ConformanceProfile,
        conformance_registry: PluginRegistry,
        streamed: bool,
    ) -> None:
        from ai_core.app import AI

        request = conformance_double.arrange(
            self.make_request(conformance_driver, conformance_profile), TextReply("Priced.")
        )
        provider = conformance_driver.provider
        ai = AI(persistence=False, drivers={provider: conformance_driver}, registry=conformance_registry)
        try:
            chat = ai.conversation(f"{provider}/{conformance_profile.model}").user(request.messages[-1].text)
            chat.options(**request.provider_options)
            if streamed:
                events = [event async for event in chat.astream()]
                response = _completed(events)
            else:
                response = await chat.asend()
        finally:
            await ai.aclose()
            await conformance_driver.aclose()
        assert response.cost is not None, "the pipeline must attach a cost (known or explicitly unknown)"
        assert response.latency_ms is not None and response.latency_ms >= 0
        if conformance_profile.priced:
            assert response.cost.total is not None, f"no price found for {provider}/{response.model}"
            assert response.cost.total > 0
