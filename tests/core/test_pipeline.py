"""The conversation pipeline end to end on the fake driver."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ai_core import (
    AI,
    Call,
    ChatResponse,
    ConversationUpdated,
    CostCalculated,
    FakeDriver,
    Listener,
    Message,
    MessageSent,
    Middleware,
    ProviderSwitched,
    RateLimitError,
    ResponseGenerated,
    ScriptExhaustedError,
    StreamCompleted,
    TextDelta,
    ToolSpec,
)
from ai_core.errors import ContextLengthExceededError, ProviderUnavailableError, RequestValidationError, ToolLoopError
from ai_core.plugins import PluginRegistry


def make_ai(*, fake: FakeDriver | None = None, **kwargs: object) -> AI:
    import ai_core.builtin
    import ai_core.drivers.fake_plugin

    registry = PluginRegistry(plugins=[("core", ai_core.builtin), ("fake", ai_core.drivers.fake_plugin)])
    drivers = {"fake": fake} if fake is not None else None
    return AI(persistence=False, registry=registry, drivers=drivers, **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_send_returns_text_usage_and_exact_cost() -> None:
    async with make_ai() as ai:
        reply = await ai.conversation("fake/echo").user("Hello there").asend()
    assert reply.text == "Echo: Hello there"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.cost is not None and reply.cost.known
    expected = (
        Decimal(reply.usage.input_tokens) * Decimal("0.50") + Decimal(reply.usage.output_tokens) * Decimal("1.50")
    ) / Decimal(1_000_000)
    assert reply.cost.total == expected
    assert reply.latency_ms is not None and reply.latency_ms >= 0


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["user", "tenant", "tag", "model"])
@pytest.mark.parametrize("resumed", [False, True])
async def test_a_name_longer_than_its_column_is_refused_before_anything_is_stored_or_sent(
    where: str, resumed: bool
) -> None:
    fake = FakeDriver()
    long = "x" * 256
    async with make_ai(fake=fake) as ai:
        first = await ai.conversation("fake/echo").user("hi").asend()
        names: dict[str, Any] = {"user": None, "tenant": None, "tags": ()}
        if where in ("user", "tenant"):
            names[where] = long
        elif where == "tag":
            names["tags"] = [long]
        model = f"fake/{long}" if where == "model" else "fake/echo"
        chat = ai.conversation(model, id=first.conversation_id if resumed else None, **names)
        with pytest.raises(RequestValidationError, match=f"{where} is 256 characters long; at most 255"):
            await chat.user("again").asend()
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_multi_turn_keeps_history() -> None:
    fake = FakeDriver()
    async with make_ai(fake=fake) as ai:
        chat = ai.conversation("fake/echo").system("be brief")
        await chat.user("one").asend()
        await chat.user("two").asend()
    assert [m.role for m in fake.calls[1].messages] == ["user", "assistant", "user"]
    assert fake.calls[1].system == "be brief"
    assert len(chat.messages) == 4


@pytest.mark.anyio
async def test_stream_ends_with_the_unstreamed_response() -> None:
    async with make_ai() as ai:
        unstreamed = await ai.conversation("fake/echo").user("count the words here").asend()
        deltas: list[str] = []
        final: ChatResponse | None = None
        async for event in ai.conversation("fake/echo").user("count the words here").astream():
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            elif isinstance(event, StreamCompleted):
                final = event.response
    assert final is not None
    assert "".join(deltas) == final.text == unstreamed.text
    assert final.usage == unstreamed.usage
    assert final.cost is not None and unstreamed.cost is not None
    assert final.cost.total == unstreamed.cost.total


def test_sync_send_and_stream_work_inside_a_running_loop() -> None:
    async def inside_loop() -> tuple[str, str]:
        ai = make_ai()
        try:
            text = ai.conversation("fake/echo").user("sync in loop").send().text
            streamed = "".join(
                e.text for e in ai.conversation("fake/echo").user("x").stream() if isinstance(e, TextDelta)
            )
            return text, streamed
        finally:
            ai.close()

    text, streamed = anyio.run(inside_loop)
    assert text == "Echo: sync in loop"
    assert streamed == "Echo: x"


class Recorder(Middleware):
    unary_only = True  # a test layer for unstreamed calls

    def __init__(self, name: str, order: int, log: list[str]) -> None:
        self.name, self.order, self.log = name, order, log

    async def __call__(self, call: Call, call_next):  # type: ignore[no-untyped-def]
        self.log.append(f"{self.name}>")
        response = await call_next(call)
        self.log.append(f"<{self.name}")
        return response


@pytest.mark.anyio
async def test_middleware_runs_in_declared_order_not_registration_order() -> None:
    log: list[str] = []
    layers = [Recorder("inner", 900, log), Recorder("outer", 10, log), Recorder("middle", 500, log)]
    async with make_ai(middleware=layers) as ai:
        await ai.conversation("fake/echo").user("hi").asend()
    assert log == ["outer>", "middle>", "inner>", "<inner", "<middle", "<outer"]


class Rewrite(Middleware):
    unary_only = True  # a test layer for unstreamed calls
    name, order = "rewrite", 100

    async def __call__(self, call: Call, call_next):  # type: ignore[no-untyped-def]
        request = call.request.model_copy(update={"messages": [*call.request.messages[:-1], Message.user("rewritten")]})
        response = await call_next(call.with_request(request))
        return response.model_copy(update={"message": Message.assistant(response.text.upper())})


class ShortCircuit(Middleware):
    unary_only = True  # a test layer for unstreamed calls
    name, order = "cache", 300

    async def __call__(self, call: Call, call_next):  # type: ignore[no-untyped-def]
        return ChatResponse(
            provider=call.request.provider, model=call.request.model, message=Message.assistant("cached")
        )


class SeesErrors(Middleware):
    unary_only = True  # a test layer for unstreamed calls
    name, order = "errors", 50

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, call: Call, call_next):  # type: ignore[no-untyped-def]
        try:
            return await call_next(call)
        except RateLimitError as exc:
            self.seen.append(type(exc).__name__)
            raise


@pytest.mark.anyio
async def test_middleware_can_change_request_and_response() -> None:
    fake = FakeDriver()
    async with make_ai(fake=fake, middleware=[Rewrite()]) as ai:
        reply = await ai.conversation("fake/echo").user("original").asend()
    assert fake.calls[0].messages[-1].text == "rewritten"
    assert reply.text == "ECHO: REWRITTEN"


@pytest.mark.anyio
async def test_middleware_can_short_circuit_without_calling_the_provider() -> None:
    fake = FakeDriver()
    async with make_ai(fake=fake, middleware=[ShortCircuit()]) as ai:
        reply = await ai.conversation("fake/echo").user("x").asend()
    assert reply.text == "cached" and fake.calls == []


@pytest.mark.anyio
async def test_middleware_sees_errors() -> None:
    layer = SeesErrors()
    fake = FakeDriver.scripted([RateLimitError("slow", provider="fake", retry_after=0)] * 5)
    async with make_ai(fake=fake, middleware=[layer]) as ai:
        with pytest.raises(RateLimitError):
            await ai.conversation("fake/echo").user("x").asend()
    assert layer.seen == ["RateLimitError"]


class StreamUpper(Middleware):
    name, order = "upper", 100

    async def stream(self, call, call_next):  # type: ignore[no-untyped-def,override]
        async for event in call_next(call):
            yield TextDelta(event.text.upper()) if isinstance(event, TextDelta) else event


@pytest.mark.anyio
async def test_middleware_wraps_streams() -> None:
    async with make_ai(middleware=[StreamUpper()]) as ai:
        events = [e async for e in ai.conversation("fake/echo").user("quiet words").astream()]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "ECHO: QUIET WORDS"


@pytest.mark.anyio
async def test_retries_rate_limits_then_succeeds() -> None:
    fake = FakeDriver.scripted([RateLimitError("slow", provider="fake", retry_after=0), "after retry"])
    async with make_ai(fake=fake) as ai:
        reply = await ai.conversation("fake/echo").user("x").asend()
    assert reply.text == "after retry" and len(fake.calls) == 2


@pytest.mark.anyio
async def test_fallback_switches_model_and_emits_event() -> None:
    switched: list[ProviderSwitched] = []
    fake = FakeDriver.scripted([ProviderUnavailableError("down", provider="fake")] * 3 + ["from fallback"])
    async with make_ai(fake=fake, listeners=[Listener(ProviderSwitched, switched.append)]) as ai:
        reply = await ai.conversation("fake/echo").fallback("fake/other").user("x").asend()
        await ai.events.adrain()
    assert reply.text == "from fallback"
    assert fake.calls[-1].model == "other"
    assert switched and switched[0].to_model == "fake/other"


@pytest.mark.anyio
async def test_scripted_fake_fails_loudly_when_exhausted() -> None:
    async with make_ai(fake=FakeDriver.scripted(["only one"])) as ai:
        chat = ai.conversation("fake/echo")
        await chat.user("a").asend()
        with pytest.raises(ScriptExhaustedError):
            await chat.user("b").asend()


@pytest.mark.anyio
async def test_listeners_run_in_background_and_failures_are_isolated(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="ai_core.events")
    release = threading.Event()
    got: list[str] = []

    def slow(event: object) -> None:
        release.wait(5)
        got.append("slow")

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    listeners = [
        Listener(ResponseGenerated, slow),
        Listener(ResponseGenerated, broken),
        Listener((MessageSent, CostCalculated, ConversationUpdated), lambda e: got.append(type(e).__name__)),
    ]
    ai = make_ai(listeners=listeners)
    reply = await ai.conversation("fake/echo").user("hi").asend()  # returns while `slow` still blocks
    assert reply.text and "slow" not in got
    release.set()
    await ai.aclose()  # drains
    assert "slow" in got and {"MessageSent", "CostCalculated", "ConversationUpdated"} <= set(got)
    assert ai.events.failures == 1
    assert "listener_failed" in caplog.text and "listener bug" in caplog.text  # logged, not just counted


def test_close_drains_pending_events() -> None:
    got: list[str] = []

    def slowish(event: object) -> None:
        import time

        time.sleep(0.05)
        got.append("done")

    ai = make_ai(listeners=[Listener(ResponseGenerated, slowish)])
    for _ in range(5):
        ai.conversation("fake/echo").user("x").send()
    ai.close()
    assert got == ["done"] * 5


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@pytest.mark.anyio
async def test_tool_loop_runs_python_tools_and_sums_usage() -> None:
    fake = FakeDriver()
    async with make_ai(fake=fake) as ai:
        chat = (
            ai.conversation("fake/echo")
            .tools([get_weather])
            .tool_choice("get_weather")
            .option("fake_tool_arguments", {"city": "Oslo"})
        )
        reply = await chat.user("weather?").asend()
    assert reply.text == "get_weather returned: sunny in Oslo"
    assert len(fake.calls) == 2
    assert [m.role for m in chat.messages] == ["user", "assistant", "tool", "assistant"]
    first = fake.calls[0]
    assert first.tools and first.tools[0].parameters["properties"]["city"]["type"] == "string"
    assert reply.usage.input_tokens > 0


@pytest.mark.anyio
async def test_declared_tools_are_returned_to_the_caller() -> None:
    spec = ToolSpec(name="lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}})
    async with make_ai() as ai:
        reply = (
            await ai.conversation("fake/echo")
            .tools([spec])
            .tool_choice("required")
            .option("fake_tool_arguments", {"q": "x"})
            .user("go")
            .asend()
        )
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls[0].name == "lookup" and reply.tool_calls[0].arguments == {"q": "x"}


@pytest.mark.anyio
async def test_tool_loop_is_bounded() -> None:
    from ai_core.config import Settings

    def ping() -> str:
        return "pong"

    async with make_ai(settings=Settings(persistence=False, tool_rounds=2)) as ai:
        chat = ai.conversation("fake/echo").tools([ping]).tool_choice("ping")
        # the echo fake answers a tool result with text, so force endless calls with a script
        ai.providers._fixed["fake"] = FakeDriver.scripted([[_call("ping")]] * 5)
        with pytest.raises(ToolLoopError):
            await chat.user("loop").asend()


def _call(name: str):  # type: ignore[no-untyped-def]
    from ai_core import ToolCallPart

    return ToolCallPart(id="c1", name=name, arguments={})


class City(BaseModel):
    name: str
    population: int


@pytest.mark.anyio
async def test_structured_output_is_parsed_into_the_model() -> None:
    fake = FakeDriver.scripted(['{"name": "Oslo", "population": 709000}'])
    async with make_ai(fake=fake) as ai:
        reply = await ai.conversation("fake/echo").output(City).user("biggest city in Norway").asend()
    assert reply.parsed == City(name="Oslo", population=709000)
    assert fake.calls[0].response_format is not None
    assert fake.calls[0].response_format.json_schema["properties"]["population"]["type"] == "integer"


@pytest.mark.anyio
async def test_structured_output_mismatch_is_a_typed_error() -> None:
    from ai_core import MalformedResponseError

    async with make_ai(fake=FakeDriver.scripted(['{"name": 3}'])) as ai:
        with pytest.raises(MalformedResponseError):
            await ai.conversation("fake/echo").output(City).user("x").asend()


@pytest.mark.anyio
async def test_bad_requests_get_typed_validation_errors() -> None:
    async with make_ai() as ai:
        with pytest.raises(RequestValidationError):
            await ai.conversation("fake/echo").temperature(7).user("x").asend()
        with pytest.raises(RequestValidationError):
            await ai.conversation("fake/echo").asend()
        with pytest.raises(RequestValidationError):
            ai.conversation("no-slash-model")


@pytest.mark.anyio
async def test_unknown_provider_lists_installed_ones() -> None:
    from ai_core import UnknownProviderError

    async with make_ai() as ai:
        with pytest.raises(UnknownProviderError, match="fake"):
            await ai.conversation("nope/model").user("x").asend()


@pytest.mark.anyio
async def test_errors_on_demand_map_to_typed_errors_and_are_recorded() -> None:
    from ai_core import AuthenticationError, MemoryStore

    store = MemoryStore()
    async with make_ai(store=store) as ai:
        with pytest.raises(AuthenticationError):
            await ai.conversation("fake/echo").option("fake_error", "authentication").user("x").asend()
    assert store.failures and store.failures[0][1] == "AuthenticationError"


@pytest.mark.anyio
async def test_stream_failure_after_first_delta_is_raised_not_replayed() -> None:
    from ai_core import StreamInterruptedError

    fake = FakeDriver()
    async with make_ai(fake=fake) as ai:
        received: list[str] = []
        with pytest.raises(StreamInterruptedError):
            async for event in (
                ai.conversation("fake/echo").option("fake_stream_error_after", 1).user("a b c").astream()
            ):
                if isinstance(event, TextDelta):
                    received.append(event.text)
    assert received and len(fake.calls) == 1  # text reached the caller, so no retry


@pytest.mark.anyio
async def test_stream_retries_before_the_first_delta() -> None:
    fake = FakeDriver.scripted([RateLimitError("slow", provider="fake", retry_after=0), "second try"])
    async with make_ai(fake=fake) as ai:
        events = [e async for e in ai.conversation("fake/echo").user("x").astream()]
    assert isinstance(events[-1], StreamCompleted) and events[-1].response.text == "second try"
    assert len(fake.calls) == 2


@pytest.mark.anyio
async def test_memory_store_is_bounded() -> None:
    from ai_core import MemoryStore

    store = MemoryStore(max_conversations=3)
    async with make_ai(store=store) as ai:
        chats = [ai.conversation("fake/echo") for _ in range(5)]
        for chat in chats:
            await chat.user("hi").asend()
        await chats[2].user("again").asend()  # recently used: kept
    assert await store.load(chats[0].id) is None
    kept = await store.load(chats[2].id)
    assert kept is not None and len(kept.messages) == 4


_anything = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12)


@given(
    temperature=_anything,
    max_tokens=_anything,
    top_p=_anything,
    seed=_anything,
    stop=st.lists(st.text(max_size=5), max_size=20) | _anything,
    tool_choice=_anything,
)
@settings(max_examples=60, deadline=None)
def test_any_bad_builder_input_is_a_typed_error(**params: object) -> None:
    """Whatever a caller passes, the answer is a reply or a RequestValidationError (or,
    for a max_tokens the model's context cannot hold, ContextLengthExceededError)."""
    ai = make_ai()
    chat = ai.conversation("fake/echo").user("hi")
    chat._params.update({k: v for k, v in params.items() if v is not None})  # what the setters store
    try:
        chat.send()
    except RequestValidationError as exc:
        assert exc.errors
    except ContextLengthExceededError as exc:
        assert exc.context_window == 128_000 and params["max_tokens"] is not None
    finally:
        ai.close()
