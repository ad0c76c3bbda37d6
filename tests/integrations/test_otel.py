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


_GLOBAL_PROVIDERS = """
import sys
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.integrations.helpers import make_ai

exporter = InMemorySpanExporter()
ai = make_ai()
ai.conversation("fake/echo").user("before any provider").send()
counts = [len(exporter.get_finished_spans())]
if sys.argv[1] == "set later":
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
else:  # OTEL_PYTHON_TRACER_PROVIDER made the SDK's provider at the first call
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
ai.conversation("fake/echo").user("after").send()
counts.append(len(exporter.get_finished_spans()))
ai.close()
print(counts, type(metrics.get_meter_provider()).__name__)
"""


@pytest.mark.parametrize("how", ["set later", "environment"])
def test_the_global_providers_are_used_whenever_the_application_sets_them(how: str, tmp_path: Any) -> None:
    """The layer reads OpenTelemetry's globals without the API's getters (their
    environment lookups cost a tenth of a cache hit): a provider set after the first
    call, or named by OTEL_PYTHON_TRACER_PROVIDER, is still used."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AI_"))}
    env |= {"PYTHONPATH": str(root), "AI_CONFIG_FILE": str(tmp_path / "none.toml")}
    if how == "environment":
        env["OTEL_PYTHON_TRACER_PROVIDER"] = "sdk_tracer_provider"
        env["OTEL_PYTHON_METER_PROVIDER"] = "sdk_meter_provider"
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDERS, how], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    counts, meters = done.stdout.split("] ")
    if how == "set later":
        assert counts == "[0, 1" and meters.strip() == "_ProxyMeterProvider"
    else:  # the first call already traced, into a provider with no processor yet
        assert counts == "[0, 1" and meters.strip() == "MeterProvider"
