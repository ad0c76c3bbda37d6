"""OpenTelemetry: GenAI-convention spans and metrics, checked with the SDK's in-memory exporters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ai_core import ToolCallPart
from ai_core.drivers.fake import FakeDriver
from ai_core.errors import ProviderUnavailableError
from tests.integrations.conftest import Telemetry
from tests.integrations.helpers import make_ai


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.mark.anyio
async def test_a_call_is_a_client_span_with_the_conventions_attributes(telemetry: Telemetry) -> None:
    from opentelemetry.trace import SpanKind

    ai = make_ai()
    try:
        reply = await ai.conversation("fake/echo").max_tokens(50).user("hello").asend()
    finally:
        await ai.aclose()
    (span,) = telemetry.finished()
    assert span.name == "chat echo" and span.kind == SpanKind.CLIENT
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "fake"
    assert attributes["gen_ai.request.model"] == "echo" and attributes["gen_ai.response.model"] == "echo"
    assert attributes["gen_ai.request.max_tokens"] == 50
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.output_tokens
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["ai_core.cost"] == format(reply.cost.total, "f")
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in telemetry.points("gen_ai.client.token.usage")}
    assert tokens == {"input": reply.usage.input_tokens, "output": reply.usage.output_tokens}
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.attributes["gen_ai.request.model"] == "echo"
    (cost,) = telemetry.points("ai_core.client.cost")
    assert cost.value == pytest.approx(float(reply.cost.total)) and cost.attributes["ai_core.cost.currency"] == "USD"
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []


@pytest.mark.anyio
async def test_a_stream_records_time_to_first_chunk(telemetry: Telemetry) -> None:
    ai = make_ai()
    try:
        async for _ in ai.conversation("fake/echo").user("hello there").astream():
            pass
    finally:
        await ai.aclose()
    (span,) = telemetry.finished()
    assert span.name == "chat echo" and span.attributes["gen_ai.usage.output_tokens"] > 0
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1


def test_tool_calls_are_execute_tool_spans_beside_the_chat_spans(telemetry: Telemetry) -> None:
    script: list[Any] = [[ToolCallPart(id="c1", name="weather", arguments={"city": "Oslo"})], "Sunny."]
    ai = make_ai(drivers={"fake": FakeDriver.scripted(script)})
    try:
        ai.conversation("fake/echo").tools([weather]).user("weather?").send()
        assert ai.events.drain(30)
    finally:
        ai.close()
    spans = {span.name: span for span in telemetry.finished()}
    tool = spans["execute_tool weather"]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "weather"
    assert [s.name for s in telemetry.finished()].count("chat echo") == 2
    assert tool.start_time <= tool.end_time


def test_a_failure_carries_error_type(telemetry: Telemetry) -> None:
    from opentelemetry.trace import StatusCode

    failing = FakeDriver.scripted([ProviderUnavailableError("down", provider="fake")])
    ai = make_ai(drivers={"fake": failing}, retry_attempts=0)
    try:
        with pytest.raises(ProviderUnavailableError):
            ai.conversation().user("x").send()
    finally:
        ai.close()
    (span,) = telemetry.finished()
    assert span.attributes["error.type"] == "ProviderUnavailableError"
    assert span.status.status_code == StatusCode.ERROR
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "ProviderUnavailableError"


def test_content_only_when_opted_in(telemetry: Telemetry) -> None:
    ai = make_ai(otel_capture_content=True)
    try:
        ai.conversation().system("Be brief.").user("secret plans").send()
    finally:
        ai.close()
    (span,) = telemetry.finished()
    assert "secret plans" in span.attributes["gen_ai.input.messages"]
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["role"] == "assistant"
    assert json.loads(span.attributes["gen_ai.system_instructions"])[0]["content"] == "Be brief."


def test_without_a_configured_provider_nothing_is_recorded() -> None:
    from opentelemetry import metrics, trace

    from ai_core.integrations.otel import _Instruments

    unconfigured = _Instruments()
    unconfigured.tracer_provider_override = trace.NoOpTracerProvider()
    unconfigured.meter_provider_override = metrics.NoOpMeterProvider()
    assert not unconfigured.active()
    assert unconfigured.tracer is None and unconfigured.duration is None
