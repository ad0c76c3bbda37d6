"""Pure translation between ai-core types and the Chat Completions wire format.

No I/O here: the driver moves bytes, this module turns a
:class:`~ai_core.types.ChatRequest` into a request body and turns response
JSON (whole, or one stream chunk at a time) back into ai-core types. Sending
and streaming share every function, and both end through one
:class:`~ai_core.drivers.streaming.StreamAccumulator`, so a streamed call and
an unstreamed one produce the same :class:`~ai_core.types.ChatResponse`.

Whatever the server sends, parsing ends in an ai-core type or a
:class:`~ai_core.errors.ProviderError` subclass: never a ``KeyError``.
"""

from __future__ import annotations

import json
from typing import Any

from ai_core import errors
from ai_core.dialects.openai_chat.profile import ChatProfile
from ai_core.drivers.base import error_for_status
from ai_core.drivers.streaming import StreamAccumulator
from ai_core.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    ImagePart,
    Message,
    ModelInfo,
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
    "ChunkReader",
    "build_body",
    "error_from_payload",
    "message_to_wire",
    "parse_model_list",
    "parse_response",
    "parse_usage",
]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

# Exceptions a malformed body can raise while we walk it; mapped once, at the edge.
_SHAPE_ERRORS = (KeyError, TypeError, AttributeError, ValueError, IndexError)


# ---------------------------------------------------------------------------
# Request
# ---------------------------------------------------------------------------


def build_body(request: ChatRequest, profile: ChatProfile, *, stream: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    ``provider_options`` are merged in last and untouched, so a caller can use
    any field the server knows; only the profile's forbidden fields are refused.
    Streaming always asks for the final usage chunk, whatever the options say.
    """
    reasoning = profile.is_reasoning(request.model)
    body: dict[str, Any] = {"model": request.model, "messages": messages_to_wire(request, profile, reasoning)}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body[profile.reasoning_max_tokens_param if reasoning else profile.max_tokens_param] = request.max_tokens
    if request.stop:
        limit = profile.max_stop_sequences
        if limit is not None and len(request.stop) > limit:
            raise errors.RequestValidationError(
                f"{profile.name} accepts at most {limit} stop sequences, got {len(request.stop)}",
                [{"loc": ["stop"], "msg": f"at most {limit} items"}],
            )
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.user is not None:
        body["user"] = request.user
    if request.tools:
        body["tools"] = [_tool_to_wire(tool) for tool in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            choice if choice in ("auto", "none", "required") else {"type": "function", "function": {"name": choice}}
        )
    if request.response_format is not None:
        fmt = request.response_format
        if fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": fmt.json_schema, "strict": fmt.strict},
            }
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if request.provider_options:
        body.update(request.provider_options)

    for key, why in profile.forbidden_options.items():
        if key in body:
            raise errors.RequestValidationError(
                f"{profile.name} does not accept {key!r}: {why}", [{"loc": [key], "msg": why}]
            )
    if reasoning and profile.reasoning_rejects:
        rejected = sorted(key for key in profile.reasoning_rejects if body.get(key) is not None)
        if rejected:
            raise errors.RequestValidationError(
                f"{profile.name} reasoning model {request.model!r} rejects {', '.join(rejected)}; "
                "remove them or use a non-reasoning model",
                [{"loc": [key], "msg": "not accepted by reasoning models"} for key in rejected],
            )
    if profile.check_request is not None:
        profile.check_request(request, body, reasoning)

    if stream:
        options = body.get("stream_options")
        body["stream"] = True
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return body


def _tool_to_wire(tool: Any) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def messages_to_wire(request: ChatRequest, profile: ChatProfile, reasoning: bool) -> list[dict[str, Any]]:
    """The ``messages`` array: the system prompt first, then the history."""
    use_developer = profile.developer_role == "always" or (profile.developer_role == "reasoning" and reasoning)
    instructions_role = "developer" if use_developer else "system"
    developer_role = "system" if profile.developer_role == "never" else "developer"
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": instructions_role, "content": request.system})
    for message in request.messages:
        out.extend(message_to_wire(message, instructions_role=instructions_role, developer_role=developer_role))
    return out


def message_to_wire(
    message: Message, *, instructions_role: str = "system", developer_role: str = "developer"
) -> list[dict[str, Any]]:
    """One ai-core message as one or more wire messages.

    Tool results become one ``tool`` message each, since the wire format has
    one result per message; reasoning the model returned earlier is not sent
    back (Chat Completions has no field for it).
    """
    role = message.role
    results = [p for p in message.parts if isinstance(p, ToolResultPart)]
    out = [{"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content} for r in results]
    others = [p for p in message.parts if not isinstance(p, ToolResultPart | ReasoningPart)]
    if role == "tool" or not others:
        if others:
            raise _invalid(message, "a tool message carries tool results only")
        return out

    wire: dict[str, Any]
    if role in ("system", "developer"):
        if any(not isinstance(p, TextPart) for p in others):
            raise _invalid(message, f"a {role} message carries text only")
        wire = {
            "role": instructions_role if role == "system" else developer_role,
            "content": "".join(p.text for p in others),  # type: ignore[union-attr]
        }
    elif role == "user":
        if any(isinstance(p, ToolCallPart) for p in others):
            raise _invalid(message, "a user message cannot carry tool calls")
        if len(others) == 1 and isinstance(others[0], TextPart):
            content: Any = others[0].text
        else:
            content = [_user_part(p) for p in others]
        wire = {"role": "user", "content": content}
    else:  # assistant
        if any(isinstance(p, ImagePart) for p in others):
            raise _invalid(message, "an assistant message cannot carry images")
        text = "".join(p.text for p in others if isinstance(p, TextPart))
        calls = [p for p in others if isinstance(p, ToolCallPart)]
        wire = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments, separators=(",", ":"))},
                }
                for call in calls
            ]
    if message.name:
        wire["name"] = message.name
    out.append(wire)
    return out


def _user_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"url": part.data_url()}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _invalid(message: Message, why: str) -> errors.RequestValidationError:
    return errors.RequestValidationError(why, [{"loc": ["messages", message.role], "msg": why}])


# ---------------------------------------------------------------------------
# Response
# ---------------------------------------------------------------------------


def parse_response(body: Any, *, provider: str, model: str, profile: ChatProfile) -> ChatResponse:
    """A whole ``chat.completion`` body as a :class:`ChatResponse`.

    ``model`` is the id the caller asked for, kept as the response's model so
    pricing finds it even when the server answers with a dated snapshot id;
    the served id is in ``provider_fields["served_model"]``.
    """
    try:
        return _parse_response(body, provider, model, profile)
    except errors.AIError:
        raise
    except _SHAPE_ERRORS as exc:
        raise _malformed(provider, f"unexpected chat.completion shape ({type(exc).__name__}: {exc})") from exc


def _parse_response(body: Any, provider: str, model: str, profile: ChatProfile) -> ChatResponse:
    if not isinstance(body, dict):
        raise _malformed(provider, f"expected a JSON object, got {type(body).__name__}")
    if body.get("error"):
        raise error_from_payload(body["error"], provider)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _malformed(provider, "response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _malformed(provider, "choice has no message")

    acc = StreamAccumulator(provider, model)
    acc.id = _opt_str(body.get("id"), "id", provider)
    for key in profile.reasoning_keys:
        reasoning = message.get(key)
        if reasoning:
            acc.add_reasoning(_str(reasoning, key, provider))
    content = message.get("content")
    if content:
        acc.add_text(_content_text(content, provider))
    refusal = message.get("refusal")
    if refusal:
        refusal = _str(refusal, "refusal", provider)
        if not content:
            acc.add_text(refusal)
        acc.provider_fields["refusal"] = refusal
    calls = message.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise _malformed(provider, "tool_calls is not a list")
        for index, call in enumerate(calls):
            function = call.get("function") or {}
            acc.add_tool_delta(
                ToolCallDelta(
                    index,
                    _opt_str(call.get("id"), "tool_calls.id", provider),
                    _opt_str(function.get("name"), "tool_calls.function.name", provider),
                    _arguments(function.get("arguments")),
                )
            )
    acc.finish_reason = _finish(choice.get("finish_reason"))
    served = body.get("model")
    if served and served != model:
        acc.provider_fields["served_model"] = str(served)
    usage = body.get("usage")
    if usage:
        acc.usage, extras = parse_usage(usage, profile, provider)
        if extras:
            acc.provider_fields["usage"] = extras
    return acc.build()


_USAGE_KEYS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens"})
_DETAIL_KEYS = {
    "prompt_tokens_details": frozenset({"cached_tokens", "cache_write_tokens"}),
    "completion_tokens_details": frozenset({"reasoning_tokens"}),
}


def parse_usage(usage: Any, profile: ChatProfile, provider: str = "") -> tuple[TokenUsage, dict[str, Any]]:
    """``CompletionUsage`` as :class:`TokenUsage`, plus the fields it has no slot for.

    Follows ai-core's convention (input includes cached, output includes
    reasoning): where a server reports reasoning on top of ``completion_tokens``
    (xAI), it is added. Extra fields (xAI's ``cost_in_usd_ticks``,
    ``num_sources_used``...) come back in the second value, zeros dropped.
    """
    if not isinstance(usage, dict):
        raise _malformed(provider, "usage is not an object")
    prompt = _count(usage.get("prompt_tokens"), "prompt_tokens", provider)
    completion = _count(usage.get("completion_tokens"), "completion_tokens", provider)
    total = _count(usage.get("total_tokens"), "total_tokens", provider)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    if not isinstance(prompt_details, dict) or not isinstance(completion_details, dict):
        raise _malformed(provider, "usage details are not objects")
    cached = _count(prompt_details.get("cached_tokens"), "cached_tokens", provider)
    written = _count(prompt_details.get("cache_write_tokens"), "cache_write_tokens", provider)
    reasoning = _count(completion_details.get("reasoning_tokens"), "reasoning_tokens", provider)

    included = profile.reasoning_in_completion
    if included is None:
        included = not (reasoning and total == prompt + completion + reasoning)
    output = completion if included else completion + reasoning
    token_usage = TokenUsage(
        input_tokens=prompt,
        output_tokens=output,
        cached_input_tokens=min(cached, prompt),
        cache_write_tokens=min(written, prompt),
        reasoning_tokens=min(reasoning, output),
        total_tokens=prompt + output,
    )

    extras: dict[str, Any] = {k: v for k, v in usage.items() if k not in _USAGE_KEYS and k not in _DETAIL_KEYS and v}
    for key, known in _DETAIL_KEYS.items():
        details = usage.get(key)
        if isinstance(details, dict):
            rest = {k: v for k, v in details.items() if k not in known and v}
            if rest:
                extras[key] = rest
    return token_usage, extras


class ChunkReader:
    """Reads one stream's ``data:`` payloads into deltas, and its final response.

    One per stream. Each :meth:`feed` parses one chunk and returns the deltas
    it holds (usually one); nothing is priced or validated per chunk, and the
    usage object, which xAI repeats on every chunk, is parsed once at the end.
    """

    __slots__ = ("_refusal", "_served", "_usage", "acc", "done", "finished", "profile", "provider")

    def __init__(self, provider: str, model: str, profile: ChatProfile) -> None:
        self.acc = StreamAccumulator(provider, model)
        self.provider = provider
        self.profile = profile
        self.done = False
        self.finished = False
        self._refusal: list[str] = []
        self._usage: Any = None
        self._served: Any = None

    def feed(self, data: str) -> list[StreamEvent]:
        """Parse one ``data:`` payload; ``[DONE]`` marks the end of the stream."""
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise _malformed(self.provider, f"stream chunk is not JSON: {data[:200]!r}") from exc
        try:
            return self._read(chunk)
        except errors.AIError:
            raise
        except _SHAPE_ERRORS as exc:
            raise _malformed(self.provider, f"unexpected stream chunk shape ({type(exc).__name__}: {exc})") from exc

    def _read(self, chunk: Any) -> list[StreamEvent]:
        if type(chunk) is not dict:
            raise _malformed(self.provider, f"stream chunk is not an object: {type(chunk).__name__}")
        if chunk.get("error"):
            raise error_from_payload(chunk["error"], self.provider)
        acc = self.acc
        if acc.id is None and "id" in chunk:
            acc.id = _opt_str(chunk["id"], "id", self.provider)
        if self._served is None:
            self._served = chunk.get("model")
        usage = chunk.get("usage")
        if usage is not None:
            self._usage = usage
        choices = chunk.get("choices")
        if not choices:
            if choices is None and usage is None:
                raise _malformed(self.provider, "stream chunk has neither choices nor usage")
            return []
        events: list[StreamEvent] = []
        for choice in choices:
            if choice.get("index", 0) != 0:  # n > 1 is not supported: read the first choice only
                continue
            delta = choice.get("delta")
            if delta:
                self._read_delta(delta, events)
            reason = choice.get("finish_reason")
            if reason:
                acc.finish_reason = _finish(reason)
                self.finished = True
        return events

    def _read_delta(self, delta: dict[str, Any], events: list[StreamEvent]) -> None:
        acc, provider = self.acc, self.provider
        for key in self.profile.reasoning_keys:
            reasoning = delta.get(key)
            if reasoning:
                acc.add_reasoning(_str(reasoning, key, provider))
                events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content:
            if type(content) is not str:
                content = _content_text(content, provider)
            acc.add_text(content)
            events.append(TextDelta(content))
        refusal = delta.get("refusal")
        if refusal:
            self._refusal.append(_str(refusal, "refusal", provider))
        calls = delta.get("tool_calls")
        if calls:
            for position, call in enumerate(calls):
                function = call.get("function") or {}
                index = call.get("index", position)
                if type(index) is not int or index < 0:
                    raise _malformed(provider, f"tool call delta has a bad index: {index!r}")
                tool_delta = ToolCallDelta(
                    index,
                    _opt_str(call.get("id"), "tool_calls.id", provider),
                    _opt_str(function.get("name"), "tool_calls.function.name", provider),
                    _arguments(function.get("arguments")),
                )
                acc.add_tool_delta(tool_delta)
                events.append(tool_delta)

    @property
    def complete(self) -> bool:
        """The server said the stream ended: ``[DONE]``, or a finish reason plus the final usage."""
        return self.done or (self.finished and self._usage is not None)

    def finish(self) -> ChatResponse:
        """The assembled response; a stream that never said it ended is interrupted."""
        if not self.complete:
            raise errors.StreamInterruptedError(
                "stream ended before the server finished it (no [DONE] and no final usage)", provider=self.provider
            )
        acc = self.acc
        try:
            if self._refusal:
                refusal = "".join(self._refusal)
                if not acc.text:
                    acc.add_text(refusal)
                acc.provider_fields["refusal"] = refusal
            if self._served and self._served != acc.model:
                acc.provider_fields["served_model"] = str(self._served)
            if self._usage:
                acc.usage, extras = parse_usage(self._usage, self.profile, self.provider)
                if extras:
                    acc.provider_fields["usage"] = extras
            return acc.build()
        except errors.AIError:
            raise
        except _SHAPE_ERRORS as exc:
            raise _malformed(self.provider, f"cannot assemble the streamed response ({exc})") from exc


# ---------------------------------------------------------------------------
# Errors and models
# ---------------------------------------------------------------------------

# Error ``type``/``code`` markers, most specific first, and the HTTP status they stand for.
_ERROR_MARKERS = (
    ("context_length", 400),
    ("insufficient_quota", 429),
    ("rate_limit", 429),
    ("invalid_api_key", 401),
    ("authentication", 401),
    ("permission", 403),
    ("not_found", 404),
    ("content_filter", 400),
    ("content_policy", 400),
    ("invalid_request", 400),
    ("timeout", 408),
)


def error_from_payload(error: Any, provider: str, status: int | None = None) -> errors.ProviderError:
    """The typed error for an ``{"error": ...}`` object (in a stream, or a 200 body).

    In a stream the HTTP status is already 200, so the error's ``type`` and
    ``code`` say which class it is; an unknown kind counts as a server error.
    """
    if isinstance(error, dict):
        message = str(error.get("message") or "the provider reported an error")
        code = error.get("code")
        kind = error.get("type")
        given = error.get("status") if isinstance(error.get("status"), int) else None
    else:
        message, code, kind, given = str(error), None, None, None
    label = str(code if code is not None else kind) if (code is not None or kind is not None) else None
    if status is None:
        status = given
    if status is None and isinstance(code, int):
        status = code
    if status is None:
        markers = f"{code or ''} {kind or ''}".lower()
        status = next((value for marker, value in _ERROR_MARKERS if marker in markers), 500)
    return error_for_status(status, message, provider=provider, status_code=status, code=label, body={"error": error})


def parse_model_list(body: Any, *, provider: str, profile: ChatProfile) -> list[ModelInfo]:
    """``GET /models`` (``ListModelsResponse``) as :class:`ModelInfo` rows."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise _malformed(provider, "model list has no data array")
    keep = profile.list_model_filter
    models: list[ModelInfo] = []
    for item in data:
        model_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise _malformed(provider, f"model entry without an id: {item!r}"[:300])
        if keep is not None and not keep(model_id):
            continue
        models.append(
            ModelInfo(provider=provider, id=model_id, reasoning=profile.is_reasoning(model_id), served_by=None)
        )
    return sorted(models, key=lambda m: m.id)


# ---------------------------------------------------------------------------
# Small checked accessors
# ---------------------------------------------------------------------------


def _malformed(provider: str, message: str) -> errors.MalformedResponseError:
    return errors.MalformedResponseError(message, provider=provider or None)


def _finish(value: Any) -> FinishReason:
    if value is None:
        return "stop"
    if not isinstance(value, str):
        raise TypeError(f"finish_reason is not a string: {value!r}")
    return _FINISH.get(value, "other")


def _count(value: Any, name: str, provider: str) -> int:
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise _malformed(provider, f"usage {name} is not a non-negative integer: {value!r}")
    return value


def _str(value: Any, name: str, provider: str) -> str:
    if type(value) is not str:
        raise _malformed(provider, f"{name} is not a string: {type(value).__name__}")
    return value


def _opt_str(value: Any, name: str, provider: str) -> str | None:
    if value is None:
        return None
    return _str(value, name, provider)


def _arguments(value: Any) -> str:
    """Tool-call arguments as JSON text (a few servers send an object)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise TypeError(f"tool call arguments are neither text nor an object: {type(value).__name__}")


def _content_text(content: Any, provider: str) -> str:
    """Message content as text: a string, or (some servers) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            _str(part.get("text", ""), "content.text", provider) for part in content if part.get("type") == "text"
        )
    raise _malformed(provider, f"message content is neither text nor parts: {type(content).__name__}")
