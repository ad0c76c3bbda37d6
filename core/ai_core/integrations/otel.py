"""OpenTelemetry spans and metrics for every model call and tool call (``ai-core[otel]``).

Follows the OpenTelemetry GenAI semantic conventions: a CLIENT span named
``{gen_ai.operation.name} {gen_ai.request.model}`` (``chat gpt-4o-mini``) per
model call, with ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model`` (and the request's ``max_tokens``, ``temperature``,
``top_p``), ``gen_ai.response.model``, ``gen_ai.response.id``,
``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` /
``output_tokens``, ``gen_ai.conversation.id`` and, on failure, ``error.type``;
an ``execute_tool {gen_ai.tool.name}`` span per tool call; and the metrics
``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``,
``gen_ai.client.operation.time_to_first_chunk`` (streams), plus ai-core's
``ai_core.client.cost`` (the call's cost, attribute ``ai_core.cost.currency``).

Only the API is used: the application configures its tracer and meter
providers (the SDK, an exporter). Without ``opentelemetry-api`` installed the
layer is not registered; with it but no provider configured each call costs
two ``isinstance`` checks. Prompts and answers go on spans
(``gen_ai.input.messages`` / ``gen_ai.output.messages``) only with
``AI_OTEL_CAPTURE_CONTENT=on``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as _metrics_internal
from opentelemetry.trace import SpanKind, Status, StatusCode

from ai_core.events.listener import Listener
from ai_core.events.types import ToolCalled
from ai_core.integrations.base import BindableHandler, BoundHandler
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.types import ChatResponse, StreamCompleted, StreamEvent

if TYPE_CHECKING:
    from ai_core.services import Services

__all__ = ["OTelMiddleware", "OTelToolListener", "provider_name", "use_providers"]

SCOPE = "ai_core"
_PROVIDER_NAMES = {"gemini": "gcp.gemini", "xai": "x_ai", "vertex": "gcp.vertex_ai", "mistral": "mistral_ai"}
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]

# The context each conversation's last model call ran in: its tool spans become siblings of its chat spans.
_contexts: OrderedDict[str, Any] = OrderedDict()
_MAX_CONTEXTS = 4096

_NAME_GONE = object()
_NO_TRACER_PROVIDER = trace.NoOpTracerProvider()
_NO_METER_PROVIDER = metrics.NoOpMeterProvider()
_environment_read = [False, False]
"""Whether OTEL_PYTHON_{TRACER,METER}_PROVIDER were looked up (then only the globals count)."""


def provider_name(provider: str) -> str:
    """ai-core's provider name as the conventions' ``gen_ai.provider.name`` value."""
    return _PROVIDER_NAMES.get(provider, provider)


def _remember(conversation_id: str | None) -> None:
    if conversation_id:
        _contexts[conversation_id] = otel_context.get_current()
        _contexts.move_to_end(conversation_id)
        while len(_contexts) > _MAX_CONTEXTS:
            _contexts.popitem(last=False)


def _global_tracer_provider() -> Any:
    """``trace.get_tracer_provider()`` without its environment lookup on every call.

    Until a provider is set, the API's getter looks ``OTEL_PYTHON_TRACER_PROVIDER`` up
    in the environment each time (with the meter's, a tenth of a cache hit). The global
    it reads is set once (``set_tracer_provider``, or the getter itself from that
    variable), so it is read directly, and the variable looked up at the first call
    only: it is meant to be set when the program starts."""
    found = getattr(trace, "_TRACER_PROVIDER", _NAME_GONE)
    if found is _NAME_GONE:  # another version of the API: its getter every time
        return trace.get_tracer_provider()
    if found is not None:
        return found
    if _environment_read[0]:
        return _NO_TRACER_PROVIDER
    _environment_read[0] = True
    return trace.get_tracer_provider()


def _global_meter_provider() -> Any:
    """``metrics.get_meter_provider()``, as :func:`_global_tracer_provider`."""
    found = getattr(_metrics_internal, "_METER_PROVIDER", _NAME_GONE)
    if found is _NAME_GONE:
        return metrics.get_meter_provider()
    if found is not None:
        return found
    if _environment_read[1]:
        return _NO_METER_PROVIDER
    _environment_read[1] = True
    return metrics.get_meter_provider()


class _Instruments:
    """Tracer and instruments of the current global providers (remade when the application changes them)."""

    def __init__(self) -> None:
        self.tracer_provider_override: Any = None
        self.meter_provider_override: Any = None
        self._tracer_provider: Any = None
        self._meter_provider: Any = None
        self._active = False
        self.tracer: Any = None
        self.tokens: Any = None
        self.duration: Any = None
        self.first_chunk: Any = None
        self.cost: Any = None

    def active(self) -> bool:
        """Whether the application configured a tracer or a meter provider."""
        tracers = self.tracer_provider_override or _global_tracer_provider()
        meters = self.meter_provider_override or _global_meter_provider()
        if tracers is self._tracer_provider and meters is self._meter_provider:
            return self._active
        traced = not isinstance(tracers, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        measured = type(meters).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")
        if tracers is not self._tracer_provider:
            self._tracer_provider = tracers
            self.tracer = tracers.get_tracer(SCOPE) if traced else None
        if meters is not self._meter_provider:
            self._meter_provider = meters
            self._make_instruments(meters.get_meter(SCOPE) if measured else None)
        self._active = traced or measured
        return self._active

    def _make_instruments(self, meter: Any) -> None:
        if meter is None:
            self.tokens = self.duration = self.first_chunk = self.cost = None
            return
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )  # fmt: skip
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )  # fmt: skip
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )  # fmt: skip
        self.cost = meter.create_counter(
            "ai_core.client.cost", unit="{currency}", description="What the calls cost, in ai_core.cost.currency."
        )


_instruments = _Instruments()


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Use these providers instead of OpenTelemetry's global ones (``None``: the global
    one again): for an application that keeps its providers to itself, and for tests."""
    _instruments.tracer_provider_override = tracer_provider
    _instruments.meter_provider_override = meter_provider


def _request_attributes(call: Call) -> dict[str, Any]:
    request = call.request
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(request.provider),
        "gen_ai.request.model": request.model,
    }
    for name in ("max_tokens", "temperature", "top_p", "seed"):
        value = getattr(request, name)
        if value is not None:
            attributes[f"gen_ai.request.{name}"] = value
    if call.conversation_id:
        attributes["gen_ai.conversation.id"] = call.conversation_id
    if call.services.settings.otel_capture_content:
        messages = [m.model_dump(mode="json") for m in request.messages]
        attributes["gen_ai.input.messages"] = json.dumps(messages)
        if request.system:
            attributes["gen_ai.system_instructions"] = json.dumps([{"type": "text", "content": request.system}])
    return attributes


class _CallRecord:
    """One model call's span and measurements."""

    def __init__(self, call: Call, *, current: bool) -> None:
        self.call = call
        self.attributes = _request_attributes(call)
        self.started = time.perf_counter()
        self.span: Any = None
        self.token: Any = None
        tracer = _instruments.tracer
        if tracer is not None:
            name = f"chat {call.request.model}"
            self.span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=self.attributes)
            if current:
                self.token = otel_context.attach(trace.set_span_in_context(self.span))
        _remember(call.conversation_id)

    def metric_attributes(self, response_model: str | None = None, error: str | None = None) -> dict[str, Any]:
        attributes = {k: self.attributes[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name",
                                                      "gen_ai.request.model")}  # fmt: skip
        if response_model:
            attributes["gen_ai.response.model"] = response_model
        if error:
            attributes["error.type"] = error
        return attributes

    def first_chunk(self) -> None:
        if _instruments.first_chunk is not None:
            _instruments.first_chunk.record(time.perf_counter() - self.started, self.metric_attributes())

    def succeeded(self, response: ChatResponse) -> None:
        elapsed = time.perf_counter() - self.started
        usage = response.usage
        span = self.span
        if span is not None:
            span.set_attribute("gen_ai.response.model", response.model)
            span.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            if response.id:
                span.set_attribute("gen_ai.response.id", response.id)
            if response.cost is not None and response.cost.total is not None:
                span.set_attribute("ai_core.cost", format(response.cost.total, "f"))
                span.set_attribute("ai_core.cost.currency", response.cost.currency)
            if self.call.services.settings.otel_capture_content:
                output = [{"role": "assistant", **response.message.model_dump(mode="json"),
                           "finish_reason": response.finish_reason}]  # fmt: skip
                span.set_attribute("gen_ai.output.messages", json.dumps(output))
            self._end()
        attributes = self.metric_attributes(response.model)
        if _instruments.duration is not None:
            _instruments.duration.record(elapsed, attributes)
            _instruments.tokens.record(usage.input_tokens, {**attributes, "gen_ai.token.type": "input"})
            _instruments.tokens.record(usage.output_tokens, {**attributes, "gen_ai.token.type": "output"})
            if response.cost is not None and response.cost.total is not None:
                currency = {**attributes, "ai_core.cost.currency": response.cost.currency}
                _instruments.cost.add(float(response.cost.total), currency)

    def failed(self, exc: BaseException) -> None:
        error = type(exc).__name__
        if self.span is not None:
            self.span.set_attribute("error.type", error)
            self.span.set_status(Status(StatusCode.ERROR, error))
            self._end()
        if _instruments.duration is not None:
            _instruments.duration.record(time.perf_counter() - self.started, self.metric_attributes(error=error))

    def _end(self) -> None:
        if self.token is not None:
            otel_context.detach(self.token)
            self.token = None
        self.span.end()


_off: dict[int, tuple[Any, bool]] = {}


def _turned_off(call: Call) -> bool:
    """``otel`` in ``AI_LISTENERS_DISABLED`` turns the spans off too (remembered per settings object)."""
    settings = call.services.settings
    known = _off.get(id(settings))
    if known is None or known[0] is not settings:
        if len(_off) > 64:  # settings of AI instances long gone
            _off.clear()
        names = {name.strip() for name in (settings.listeners_disabled or "").split(",")}
        known = _off[id(settings)] = (settings, "otel" in names)
    return known[1]


class OTelMiddleware(Middleware):
    """The outermost layer but one (order 10): a span around each model call, retries included."""

    name = "otel"
    order = 10

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        if not _instruments.active() or _turned_off(call):
            return await call_next(call)
        record = _CallRecord(call, current=True)
        try:
            response = await call_next(call)
        except BaseException as exc:
            record.failed(exc)
            raise
        record.succeeded(response)
        return response

    def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        if not _instruments.active() or _turned_off(call):
            return call_next(call)
        return self._traced_stream(call, call_next)

    async def _traced_stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:
        # Not made current: a context attached in an async generator would leak into the caller between chunks.
        record = _CallRecord(call, current=False)
        first = True
        try:
            async for event in call_next(call):
                if isinstance(event, StreamCompleted):
                    record.succeeded(event.response)
                    record = None  # type: ignore[assignment]
                elif first:
                    first = False
                    record.first_chunk()
                yield event
        except BaseException as exc:
            if record is not None:
                record.failed(exc)
            raise
        finally:
            if record is not None and record.span is not None and record.span.is_recording():
                record.failed(GeneratorExit())  # abandoned before its end


class OTelToolListener(BindableHandler):
    """Registered by core's plugin as the listener named ``otel``: ``execute_tool`` spans."""

    def bind(self, services: Services) -> Listener | None:
        return Listener(events=ToolCalled, handler=_ToolSpans(), name="otel")


class _ToolSpans(BoundHandler):
    def __call__(self, event: ToolCalled) -> None:
        if not _instruments.active() or _instruments.tracer is None:
            return
        end = event.occurred_at
        start = end - timedelta(milliseconds=event.duration_ms or 0.0)
        attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": event.tool}
        attributes["gen_ai.tool.type"] = "extension" if event.server else "function"
        if event.conversation_id:
            attributes["gen_ai.conversation.id"] = event.conversation_id
        if event.server:
            attributes["ai_core.mcp.server"] = event.server
        parent = _contexts.get(event.conversation_id or "")
        span = _instruments.tracer.start_span(
            f"execute_tool {event.tool}", context=parent, kind=SpanKind.INTERNAL, attributes=attributes,
            start_time=int(start.timestamp() * 1e9),
        )  # fmt: skip
        if event.is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, "tool_error"))
        span.end(end_time=int(end.timestamp() * 1e9))
