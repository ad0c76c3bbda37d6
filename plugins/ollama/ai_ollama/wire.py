"""Ollama's native ``/api/chat`` wire format: pure translation, no HTTP.

Request (``POST /api/chat``)::

    {"model": "llama3.2", "stream": true,
     "messages": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "What is in this picture?", "images": ["<base64>"]},
                  {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1",
                      "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}]},
                  {"role": "tool", "tool_name": "get_weather", "tool_call_id": "call_1", "content": "18C"}],
     "tools": [{"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}],
     "format": "json" | {<JSON schema>}, "think": true | "low" | "medium" | "high" | "max",
     "options": {"temperature": 0.2, "top_p": 0.9, "seed": 1, "stop": [...], "num_predict": 100, "num_ctx": 8192},
     "keep_alive": "5m"}

Answer: one object, or (streamed) one per line, the last with ``"done": true``::

    {"model": "llama3.2", "message": {"role": "assistant", "content": "...", "thinking": "...",
     "tool_calls": [{"function": {"name": ..., "arguments": {...}}}]},
     "done": true, "done_reason": "stop", "prompt_eval_count": 26, "eval_count": 298,
     "total_duration": 5191566416, "load_duration": ..., "prompt_eval_duration": ..., "eval_duration": ...}

Usage (``prompt_eval_count``, ``eval_count``) and the durations (nanoseconds) come only on the
last line, so a stream cut part-way has no usage to pass on. An error is ``{"error": "..."}``,
as an HTTP error's body or as a line inside a stream that began with 200.

Ollama's tool calls carry no id on older servers: the driver sends core's ids
(``id``, ``tool_call_id``: newer servers use them, older ones ignore them)
next to the documented ``tool_name``, and makes one up for a call that
arrives without.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from ai_core import errors
from ai_core.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    Message,
    ReasoningDelta,
    ReasoningPart,
    StreamEvent,
    TextDelta,
    TextPart,
    TokenUsage,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
)

__all__ = [
    "TOP_LEVEL_OPTIONS",
    "ChunkReader",
    "build_body",
    "finish_reason",
    "message_to_wire",
    "parse_response",
    "usage_from",
]

TOP_LEVEL_OPTIONS = frozenset({"keep_alive", "think", "format", "logprobs", "top_logprobs"})
"""``provider_options`` that are fields of the request; ``options`` is merged into the request's
``options``, and any other key is a model option (``num_ctx``, ``top_k``, ``repeat_penalty``...)."""

_THINK_LEVELS: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "max",
    "max": "max",
}
_DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


# -- request -------------------------------------------------------------------


def _image_to_base64(part: ImagePart) -> str:
    """Ollama takes images as bare base64 (no ``data:`` prefix); it fetches no URLs."""
    if part.data is not None:
        return base64.b64encode(part.data).decode("ascii")
    url = part.url or ""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if ";base64" not in header:
            raise errors.RequestValidationError("Ollama image data URLs must be base64-encoded")
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.RequestValidationError(f"image data URL is not valid base64: {exc}") from exc
        return payload
    raise errors.RequestValidationError(
        f"Ollama takes images as data, not URLs ({url[:80]!r}): pass the bytes (ImagePart(data=...))"
    )


def message_to_wire(message: Message, call_names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One core message as Ollama messages (a tool message with several results becomes several).

    A tool result names its tool (``tool_name``, how Ollama ties a result to its call):
    the result's own name, else the name of the call with its id in ``call_names``.
    """
    if message.role == "tool":
        names = call_names or {}
        return [
            {
                "role": "tool",
                "content": part.content,
                "tool_name": part.name or names.get(part.tool_call_id, ""),
                "tool_call_id": part.tool_call_id,
            }
            for part in message.parts
            if isinstance(part, ToolResultPart)
        ]
    wire: dict[str, Any] = {"role": message.role, "content": message.text}
    images = [_image_to_base64(part) for part in message.parts if isinstance(part, ImagePart)]
    if images:
        wire["images"] = images
    if message.role == "assistant":
        reasoning = message.reasoning
        if reasoning:
            wire["thinking"] = reasoning
        calls = message.tool_calls
        if calls:
            wire["tool_calls"] = [
                {"id": call.id, "function": {"index": index, "name": call.name, "arguments": call.arguments}}
                for index, call in enumerate(calls)
            ]
    return [wire]


def build_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``.

    Core's fields map onto ``options`` (``max_tokens`` is ``num_predict``),
    ``response_format`` onto ``format``, ``reasoning_effort`` onto ``think``.
    ``provider_options`` come last and win: ``keep_alive``, ``think``,
    ``format``, ``logprobs`` and ``top_logprobs`` as request fields,
    ``options`` merged into ``options``, and any other key as a model option.
    """
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    call_names = {c.id: c.name for m in request.messages if m.role == "assistant" for c in m.tool_calls}
    for message in request.messages:
        messages.extend(message_to_wire(message, call_names))
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.seed is not None:
        options["seed"] = request.seed
    if request.stop:
        options["stop"] = list(request.stop)
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.tools and request.tool_choice != "none":
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
            }
            for tool in request.tools
        ]
    if request.response_format is not None:
        fmt = request.response_format
        body["format"] = fmt.json_schema if fmt.type == "json_schema" else "json"
    if request.reasoning_effort is not None:
        body["think"] = _THINK_LEVELS[request.reasoning_effort]
    for key, value in request.provider_options.items():
        if key in TOP_LEVEL_OPTIONS:
            body[key] = value
        elif key == "options":
            if not isinstance(value, dict):
                raise errors.RequestValidationError(f"Ollama's 'options' must be a mapping, got {value!r}")
            options.update(value)
        else:
            options[key] = value
    if options:
        body["options"] = options
    return body


# -- response ------------------------------------------------------------------


def finish_reason(done_reason: Any, has_tool_calls: bool) -> FinishReason:
    if has_tool_calls:
        return "tool_calls"
    if done_reason in (None, "", "stop"):
        return "stop"
    if done_reason == "length":
        return "length"
    return "other"


def usage_from(payload: dict[str, Any], provider: str = "ollama") -> TokenUsage:
    """``prompt_eval_count`` and ``eval_count``; absent counts are zero (a fully cached prompt)."""
    prompt = payload.get("prompt_eval_count") or 0
    out = payload.get("eval_count") or 0
    if not isinstance(prompt, int) or not isinstance(out, int) or prompt < 0 or out < 0:
        raise errors.MalformedResponseError(
            f"token counts are not whole numbers: prompt_eval_count={prompt!r}, eval_count={out!r}",
            provider=provider,
        )
    return TokenUsage(input_tokens=prompt, output_tokens=out)


def timings(payload: dict[str, Any]) -> dict[str, Any]:
    """Ollama's durations (nanoseconds) as milliseconds, for ``provider_fields``."""
    fields: dict[str, Any] = {}
    for name in _DURATIONS:
        value = payload.get(name)
        if isinstance(value, int | float):
            fields[name + "_ms"] = value / 1e6
    return fields


def _call_id(call: dict[str, Any]) -> str:
    found = call.get("id")
    return found if isinstance(found, str) and found else f"call_{uuid.uuid4().hex[:12]}"


def _wire_calls(message: dict[str, Any], provider: str) -> list[tuple[str, str, dict[str, Any]]]:
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise errors.MalformedResponseError(f"tool_calls is not a list: {calls!r}"[:200], provider=provider)
    out: list[tuple[str, str, dict[str, Any]]] = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise errors.MalformedResponseError(f"tool call without a function name: {call!r}"[:200], provider=provider)
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):  # some models' templates give a JSON string
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise errors.MalformedResponseError(
                    f"tool call {function['name']!r} has arguments that are not JSON: {arguments[:200]!r}",
                    provider=provider,
                ) from exc
        if not isinstance(arguments, dict):
            raise errors.MalformedResponseError(
                f"tool call {function['name']!r} arguments are not a JSON object", provider=provider
            )
        out.append((_call_id(call), function["name"], arguments))
    return out


def _message_of(payload: Any, provider: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise errors.MalformedResponseError(f"expected a JSON object, got {str(payload)[:200]!r}", provider=provider)
    message = payload.get("message") or {}
    if not isinstance(message, dict):
        raise errors.MalformedResponseError(f"message is not an object: {message!r}"[:200], provider=provider)
    for name in ("content", "thinking"):
        if message.get(name) is not None and not isinstance(message[name], str):
            raise errors.MalformedResponseError(
                f"message.{name} is not text: {message[name]!r}"[:200], provider=provider
            )
    return message


def parse_response(payload: Any, *, provider: str, model: str) -> ChatResponse:
    """An unstreamed ``/api/chat`` answer as a :class:`ChatResponse`."""
    message = _message_of(payload, provider)
    if "error" in payload:
        raise error_from_payload(payload["error"], provider)
    if payload.get("done") is False:
        raise errors.MalformedResponseError(
            "the answer is not done (done: false) though not streamed", provider=provider
        )
    calls = _wire_calls(message, provider)
    parts: list[Any] = []
    if message.get("thinking"):
        parts.append(ReasoningPart(text=message["thinking"]))
    text = message.get("content") or ""
    if text or not calls:
        parts.append(TextPart(text=text))
    parts.extend(ToolCallPart(id=call_id, name=name, arguments=arguments) for call_id, name, arguments in calls)
    return ChatResponse(
        id=None,
        provider=provider,
        model=model,
        message=Message(role="assistant", parts=parts),
        finish_reason=finish_reason(payload.get("done_reason"), bool(calls)),
        usage=usage_from(payload, provider),
        provider_fields=timings(payload),
    )


def error_from_payload(error: Any, provider: str, status: int = 500) -> errors.ProviderError:
    """An ``{"error": ...}`` line inside a stream that began with 200: the server failed part-way."""
    from ai_core.drivers.base import error_for_status

    message = error if isinstance(error, str) else json.dumps(error)[:300]
    return error_for_status(status, message or "the model failed", provider=provider, body={"error": error})


class ChunkReader:
    """Reads the lines of a streamed ``/api/chat`` answer into deltas.

    ``feed(line)`` returns the events of one line; after the ``done`` line,
    ``finish()`` returns the whole response, equal to the unstreamed one.
    """

    __slots__ = ("_calls", "_reasoning", "_text", "done", "model", "payload", "provider")

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[tuple[str, str, dict[str, Any]]] = []
        self.done = False
        self.payload: dict[str, Any] = {}

    def feed(self, line: str) -> list[StreamEvent]:
        if not line.strip():
            return []
        try:
            payload = json.loads(line)
        except json.JSONDecodeError as exc:
            raise errors.MalformedResponseError(f"bad stream line {line[:200]!r}", provider=self.provider) from exc
        if isinstance(payload, dict) and "error" in payload:
            raise error_from_payload(payload["error"], self.provider)
        message = _message_of(payload, self.provider)
        events: list[StreamEvent] = []
        thinking = message.get("thinking")
        if thinking:
            self._reasoning.append(thinking)
            events.append(ReasoningDelta(thinking))
        content = message.get("content")
        if content:
            self._text.append(content)
            events.append(TextDelta(content))
        if message.get("tool_calls"):
            for call_id, name, arguments in _wire_calls(message, self.provider):
                index = len(self._calls)
                self._calls.append((call_id, name, arguments))
                events.append(ToolCallDelta(index, call_id, name, json.dumps(arguments)))
        if payload.get("done") is True:
            self.done = True
            self.payload = payload
        return events

    def finish(self) -> ChatResponse:
        if not self.done:
            raise errors.StreamInterruptedError("the stream ended before its done line", provider=self.provider)
        parts: list[Any] = []
        if self._reasoning:
            parts.append(ReasoningPart(text="".join(self._reasoning)))
        text = "".join(self._text)
        if text or not self._calls:
            parts.append(TextPart(text=text))
        parts.extend(
            ToolCallPart(id=call_id, name=name, arguments=arguments) for call_id, name, arguments in self._calls
        )
        return ChatResponse(
            id=None,
            provider=self.provider,
            model=self.model,
            message=Message(role="assistant", parts=parts),
            finish_reason=finish_reason(self.payload.get("done_reason"), bool(self._calls)),
            usage=usage_from(self.payload, self.provider),
            provider_fields=timings(self.payload),
        )
