"""Pure translation between core's types and the Generative Language API v1beta (no I/O).

Request: a :class:`~ai_core.ChatRequest` as a ``GenerateContentRequest`` body
(:func:`build_body`): roles ``user``/``model``, the system prompt as
``systemInstruction``, ``generationConfig`` (with ``thinkingConfig`` from the
reasoning effort and ``responseJsonSchema`` for structured output), function
declarations, calls and responses, images as ``inlineData`` or ``fileData``.

Response: one ``GenerateContentResponse`` as a :class:`~ai_core.ChatResponse`
(:func:`parse_response`). A stream (:class:`StreamReader`) merges its chunks into
one such response and parses it with the same function, so a streamed call ends
in exactly what the unstreamed one returns, usage included.

Errors: Google's ``{"error": {"code", "status", "message", "details"}}`` body as
the typed errors (:func:`error_from_google`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ai_core import (
    AuthenticationError,
    ChatRequest,
    ChatResponse,
    ContentFilteredError,
    ContextLengthExceededError,
    FinishReason,
    ImagePart,
    MalformedResponseError,
    Message,
    ModelInfo,
    ProviderError,
    RateLimitError,
    ReasoningDelta,
    ReasoningPart,
    RequestValidationError,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
    TextPart,
    TokenUsage,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    error_for_status,
    retry_after_seconds,
)

__all__ = [
    "FINISH_REASONS",
    "StreamReader",
    "build_body",
    "count_tokens_body",
    "error_from_google",
    "model_path",
    "parse_model_list",
    "parse_response",
    "usage_from",
]

FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
    "LANGUAGE": "other",
    "OTHER": "other",
    "FINISH_REASON_UNSPECIFIED": "other",
}
"""Gemini's ``finishReason`` values as core's; an unknown value is ``other``."""

SYNTHETIC_CALL_PREFIX = "gemini-call-"
"""Ids given to function calls that arrive without one (Gemini 2.x sends none); never sent back."""

PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
"""Google's documented stand-in for a function call's missing thought signature (Gemini 3)."""

_REQUEST_FIELDS = frozenset(
    ("cachedContent", "contents", "generationConfig", "model", "safetySettings", "serviceTier", "store",
     "systemInstruction", "toolConfig", "tools")
)  # fmt: skip
_CONFIG_FIELDS = frozenset(
    ("candidateCount", "enableAffectiveDialog", "enableEnhancedCivicAnswers", "frequencyPenalty", "imageConfig",
     "logprobs", "maxOutputTokens", "mediaResolution", "presencePenalty", "responseJsonSchema", "responseLogprobs",
     "responseMimeType", "responseModalities", "responseSchema", "seed", "speechConfig", "stopSequences",
     "temperature", "thinkingConfig", "topK", "topP")
)  # fmt: skip
_BEFORE_3 = ("gemini-1.", "gemini-2.")
"""Models before Gemini 3: a thinking budget, not a level, and no thought signatures required."""
_NO_THINKING = ("gemini-1.", "gemini-2.0-")
"""Models that do not think: a ``thinkingConfig`` would be refused."""
_THINKING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
_BUDGET_LIMITS = (("gemini-2.5-pro", 128, 32768, False), ("flash-lite", 512, 24576, True), ("flash", 1, 24576, True))
"""(model marker, least budget, most budget, can thinking be turned off) of the 2.5 models."""
_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
                "gif": "image/gif", "heic": "image/heic", "heif": "image/heif"}  # fmt: skip
_CONTEXT_MARKERS = ("exceeds the maximum number of tokens", "input token count", "context window", "too long")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def model_path(model: str) -> str:
    """``models/{model}`` for a bare id or one already written as ``models/...``."""
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


# -- request ---------------------------------------------------------------------------


def _image_to_wire(image: ImagePart) -> dict[str, Any]:
    if image.data is not None:
        import base64

        return {"inlineData": {"mimeType": image.media_type, "data": base64.b64encode(image.data).decode("ascii")}}
    url = image.url or ""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = header[5:].split(";")[0] or "image/png"
        return {"inlineData": {"mimeType": mime, "data": data}}
    suffix = url.split("?")[0].rsplit(".", 1)[-1].lower()
    mime = image.media_type or _IMAGE_TYPES.get(suffix, "image/jpeg")
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _call_names(request: ChatRequest) -> dict[str, str]:
    """Tool-call id -> function name, so a result that lacks its name gets it (Gemini needs it)."""
    return {call.id: call.name for message in request.messages for call in message.tool_calls}


def contents_from(request: ChatRequest) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``contents`` turns, and system/developer texts found among the messages."""
    names = _call_names(request)
    gemini_3 = not request.model.removeprefix("models/").startswith(_BEFORE_3)
    contents: list[dict[str, Any]] = []
    system: list[str] = []
    for message in request.messages:
        if message.role in ("system", "developer"):
            system.append(message.text)
            continue
        parts: list[dict[str, Any]] = []
        role = "model" if message.role == "assistant" else "user"
        signature: str | None = None
        for part in message.parts:
            if isinstance(part, TextPart):
                if part.text:
                    parts.append({"text": part.text})
            elif isinstance(part, ImagePart):
                parts.append(_image_to_wire(part))
            elif isinstance(part, ReasoningPart):
                # Thoughts are the model's own: only their signature goes back.
                signature = signature or part.signature
            elif isinstance(part, ToolCallPart):
                call: dict[str, Any] = {"name": part.name, "args": part.arguments}
                if not part.id.startswith(SYNTHETIC_CALL_PREFIX):
                    call["id"] = part.id
                parts.append({"functionCall": call})
            elif isinstance(part, ToolResultPart):
                name = part.name or names.get(part.tool_call_id)
                if not name:
                    raise RequestValidationError(
                        f"tool result {part.tool_call_id!r} answers no tool call of this conversation, and Gemini "
                        "needs the function's name: give the result a name",
                        [{"loc": ["messages"], "msg": "tool result without a function name"}],
                    )
                key = "error" if part.is_error else "result"
                response: dict[str, Any] = {"name": name, "response": {key: part.content}}
                if not part.tool_call_id.startswith(SYNTHETIC_CALL_PREFIX):
                    response["id"] = part.tool_call_id
                parts.append({"functionResponse": response})
        if role == "model" and parts:
            # The signature travels on the first function call (else the first part), as Gemini sent it.
            # Gemini 3 refuses a function call in the history without one (a call made by another
            # provider, before a failover): Google's documented placeholder stands in for it.
            target = next((p for p in parts if "functionCall" in p), parts[0])
            if signature is None and gemini_3 and "functionCall" in target:
                signature = PLACEHOLDER_SIGNATURE
            if signature is not None:
                target["thoughtSignature"] = signature
        if not parts:
            parts.append({"text": ""})
        if contents and contents[-1]["role"] == role:  # Gemini wants turns to alternate; merge neighbours
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents, system


def _thinking_config(request: ChatRequest) -> dict[str, Any] | None:
    effort = request.reasoning_effort
    if effort is None:
        return None
    model = request.model.removeprefix("models/")
    if model.startswith(_NO_THINKING):
        return None  # these models refuse a thinkingConfig; the effort is moot for them
    include = effort != "none"
    if not model.startswith(_BEFORE_3):  # Gemini 3 and later (and the -latest aliases) take a level
        pro = "pro" in model
        if effort in ("none", "minimal"):
            level = "LOW" if pro else "MINIMAL"
        elif effort == "low":
            level = "LOW"
        elif effort == "medium":
            level = "HIGH" if pro else "MEDIUM"
        else:
            level = "HIGH"
        return {"thinkingLevel": level, "includeThoughts": include}
    budget = _THINKING_BUDGETS[effort]
    for marker, low, high, can_stop in _BUDGET_LIMITS:
        if marker in model:
            budget = (0 if can_stop else low) if budget == 0 else min(max(budget, low), high)
            break
    return {"thinkingBudget": budget, "includeThoughts": include and budget != 0}


def build_body(request: ChatRequest) -> dict[str, Any]:
    """The ``GenerateContentRequest`` body for ``request`` (the same for send and stream).

    ``provider_options`` go where the API has them: request fields
    (``safetySettings``, ``cachedContent``, ``toolConfig``, ...) at the top,
    generation settings (``topK``, ``candidateCount``, ``thinkingConfig``, ...)
    into ``generationConfig``; snake_case names are accepted. Anything else is
    sent as given.
    """
    contents, system = contents_from(request)
    body: dict[str, Any] = {"contents": contents}
    instructions = [text for text in (request.system, *system) if text]
    if instructions:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(instructions)}]}
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    fmt = request.response_format
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.json_schema:
            config["responseJsonSchema"] = fmt.json_schema
    thinking = _thinking_config(request)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if request.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {"name": tool.name, "description": tool.description, "parametersJsonSchema": tool.parameters}
                    for tool in request.tools
                ]
            }
        ]
    if request.tool_choice is not None:
        choice = request.tool_choice
        calling: dict[str, Any]
        if choice == "auto":
            calling = {"mode": "AUTO"}
        elif choice == "none":
            calling = {"mode": "NONE"}
        elif choice == "required":
            calling = {"mode": "ANY"}
        else:
            calling = {"mode": "ANY", "allowedFunctionNames": [choice]}
        body["toolConfig"] = {"functionCallingConfig": calling}
    for raw_key, value in request.provider_options.items():
        key = _camel(raw_key)
        if key == "generationConfig" and isinstance(value, dict):
            config.update({_camel(k): v for k, v in value.items()})
        elif key in _CONFIG_FIELDS:
            if key == "thinkingConfig" and isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **{_camel(k): v for k, v in value.items()}}
            else:
                config[key] = value
        elif key in _REQUEST_FIELDS:
            body[key] = value
        else:
            body[raw_key] = value
    if config:
        body["generationConfig"] = config
    return body


def count_tokens_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """``countTokens``: the whole request (system prompt and tools too) as ``generateContentRequest``."""
    inner = build_body(request)
    inner["model"] = model_path(model)
    return {"generateContentRequest": inner}


# -- response --------------------------------------------------------------------------


def _count(metadata: dict[str, Any], key: str) -> int:
    """A token count: an integer, or a string of digits (proto JSON writes int64 so)."""
    value = metadata.get(key)
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"usageMetadata.{key} is not a token count: {value!r:.50}")


def usage_from(metadata: Any) -> TokenUsage | None:
    """``usageMetadata`` as core's usage.

    Gemini's ``promptTokenCount`` includes ``cachedContentTokenCount``; tool-use
    prompt tokens are billed as input too. ``thoughtsTokenCount`` is apart from
    ``candidatesTokenCount`` and billed as output, so it is added to the output.
    A count that is not one raises :class:`ValueError` (the callers make it a
    :class:`~ai_core.MalformedResponseError`).
    """
    if not isinstance(metadata, dict):
        return None
    prompt = _count(metadata, "promptTokenCount") + _count(metadata, "toolUsePromptTokenCount")
    thoughts = _count(metadata, "thoughtsTokenCount")
    output = _count(metadata, "candidatesTokenCount") + thoughts
    cached = min(_count(metadata, "cachedContentTokenCount"), prompt)
    return TokenUsage(input_tokens=prompt, output_tokens=output, cached_input_tokens=cached, reasoning_tokens=thoughts)


def _blocked(feedback: Any, provider: str, payload: Any) -> ContentFilteredError | None:
    if not isinstance(feedback, dict) or not feedback.get("blockReason"):
        return None
    reason = str(feedback["blockReason"])
    detail = feedback.get("blockReasonMessage")
    text = f"the prompt was blocked by Gemini's safety filters ({reason})" + (f": {detail}" if detail else "")
    return ContentFilteredError(text, provider=provider, code=reason, body=payload)


def parse_response(payload: Any, *, provider: str, model: str) -> ChatResponse:
    """See :func:`_parse_response`; a payload of the wrong shape is a
    :class:`~ai_core.MalformedResponseError`."""
    try:
        return _parse_response(payload, provider=provider, model=model)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # pydantic's ValidationError is a ValueError
        raise MalformedResponseError(
            f"answer of an unexpected shape ({exc}): {str(payload)[:200]}", provider=provider
        ) from exc


def _parse_response(payload: Any, *, provider: str, model: str) -> ChatResponse:
    """One ``GenerateContentResponse`` (or a stream's chunks merged into one) as a response.

    A prompt blocked by safety (``promptFeedback.blockReason``), or an answer
    stopped for safety with nothing in it, is a
    :class:`~ai_core.ContentFilteredError`; an answer cut by safety after
    some text ends with ``finish_reason="content_filter"`` and the reason in
    ``provider_fields``. Only the first candidate is read.
    """
    if not isinstance(payload, dict):
        raise MalformedResponseError(f"unexpected answer: {str(payload)[:200]}", provider=provider)
    blocked = _blocked(payload.get("promptFeedback"), provider, payload)
    if blocked is not None:
        raise blocked
    candidates = payload.get("candidates")
    usage = usage_from(payload.get("usageMetadata"))
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        raise MalformedResponseError(f"answer without candidates: {str(payload)[:200]}", provider=provider)
    candidate = candidates[0]
    content: dict[str, Any] = candidate["content"] if isinstance(candidate.get("content"), dict) else {}
    wire_parts: list[Any] = content["parts"] if isinstance(content.get("parts"), list) else []
    texts: list[str] = []
    thoughts: list[str] = []
    signature: str | None = None
    calls: list[ToolCallPart] = []
    for part in wire_parts:
        if not isinstance(part, dict):
            continue
        if part.get("thoughtSignature") and signature is None:
            signature = str(part["thoughtSignature"])
        if "functionCall" in part:
            calls.append(_call_part(part["functionCall"], len(calls), provider))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    raw_reason = candidate.get("finishReason")
    reason: FinishReason = FINISH_REASONS.get(str(raw_reason), "other") if raw_reason else "stop"
    if calls and reason == "stop":
        reason = "tool_calls"
    text = "".join(texts)
    fields: dict[str, Any] = {}
    if raw_reason and raw_reason != "STOP":
        fields["finish_reason"] = raw_reason
        if candidate.get("finishMessage"):
            fields["finish_message"] = candidate["finishMessage"]
    if reason == "content_filter":
        fields["safety_ratings"] = candidate.get("safetyRatings") or []
        if not text and not calls:
            message = f"the answer was blocked by Gemini's filters ({raw_reason})"
            raise ContentFilteredError(message, provider=provider, code=str(raw_reason), body=payload)
    if payload.get("modelVersion"):
        fields["model_version"] = payload["modelVersion"]
    parts: list[Any] = []
    if thoughts or signature:
        parts.append(ReasoningPart(text="".join(thoughts), signature=signature))
    if text or not calls:
        parts.append(TextPart(text=text))
    parts.extend(calls)
    return ChatResponse(
        id=payload["responseId"] if isinstance(payload.get("responseId"), str) else None,
        provider=provider,
        model=model,
        message=Message(role="assistant", parts=parts),
        finish_reason=reason,
        usage=usage or TokenUsage(estimated=True),
        provider_fields=fields,
    )


def _call_part(call: Any, index: int, provider: str) -> ToolCallPart:
    if not isinstance(call, dict) or not call.get("name"):
        raise MalformedResponseError(f"function call without a name: {str(call)[:200]}", provider=provider)
    args = call.get("args") or {}
    if not isinstance(args, dict):
        raise MalformedResponseError(f"function call {call['name']!r} args are not an object", provider=provider)
    return ToolCallPart(id=str(call.get("id") or f"{SYNTHETIC_CALL_PREFIX}{index}"), name=call["name"], arguments=args)


class StreamReader:
    """Reads ``streamGenerateContent?alt=sse`` chunks, yielding deltas as they come,
    and merges them into one response for :func:`parse_response`.

    Every chunk is a ``GenerateContentResponse``: text pieces, whole function
    calls, the usage so far (Gemini repeats it; the last one counts) and, last,
    the finish reason. An ``{"error": ...}`` chunk is the typed error.
    """

    __slots__ = ("_calls", "_feedback", "_parts", "_thoughts", "finish", "model", "provider", "rest")

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self._parts: list[str] = []
        self._thoughts: list[str] = []
        self._calls: list[dict[str, Any]] = []
        self._feedback: Any = None
        self.finish: dict[str, Any] | None = None
        self.rest: dict[str, Any] = {}

    def reported_usage(self) -> TokenUsage | None:
        """The usage of the latest chunk that carried one (Gemini repeats the running totals);
        ``None`` when none did, or when it is not readable."""
        try:
            return usage_from(self.rest.get("usageMetadata"))
        except ValueError:
            return None

    def feed(self, data: str) -> list[StreamEvent]:
        """The events of one SSE ``data`` payload; a chunk of the wrong shape is a typed error."""
        try:
            return self._feed(data)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise MalformedResponseError(
                f"stream chunk of an unexpected shape ({exc}): {data[:200]!r}", provider=self.provider
            ) from exc

    def _feed(self, data: str) -> list[StreamEvent]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise MalformedResponseError(f"bad stream chunk {data[:200]!r}", provider=self.provider) from exc
        if type(chunk) is dict and "error" not in chunk and "promptFeedback" not in chunk:
            # The common chunk, one piece of text, read without the general checks below.
            try:
                candidates = chunk["candidates"]
                candidate = candidates[0]
                (part,) = candidate["content"]["parts"]
                text = part["text"]
                plain = (
                    len(part) == 1 and type(text) is str and len(candidates) == 1 and "finishReason" not in candidate
                )
            except (KeyError, IndexError, TypeError, ValueError):
                plain = False
            if plain:
                rest = self.rest
                for key in ("usageMetadata", "responseId", "modelVersion"):
                    if key in chunk:
                        rest[key] = chunk[key]
                if not text:
                    return []
                self._parts.append(text)
                return [TextDelta(text)]
        if not isinstance(chunk, dict):
            raise MalformedResponseError(f"bad stream chunk {data[:200]!r}", provider=self.provider)
        if "error" in chunk:
            raise error_from_google(chunk, self.provider)
        events: list[StreamEvent] = []
        metadata = chunk.get("usageMetadata")
        if metadata is not None:  # read once, at the end (a TokenUsage per chunk would cost more than the rest)
            self.rest["usageMetadata"] = metadata
        if chunk.get("promptFeedback"):
            self._feedback = chunk["promptFeedback"]
            blocked = _blocked(self._feedback, self.provider, chunk)
            if blocked is not None:
                raise blocked
        for key in ("responseId", "modelVersion"):
            if key in chunk:
                self.rest[key] = chunk[key]
        candidates = chunk.get("candidates")
        if not candidates:
            return events
        if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
            raise MalformedResponseError(f"bad stream chunk {data[:200]!r}", provider=self.provider)
        candidate = candidates[0]
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            if part.get("thoughtSignature") and "signature" not in self.rest:
                self.rest["signature"] = part["thoughtSignature"]
            if "functionCall" in part:
                call = _call_part(part["functionCall"], len(self._calls), self.provider)
                self._calls.append(part["functionCall"])
                events.append(ToolCallDelta(len(self._calls) - 1, call.id, call.name, json.dumps(call.arguments)))
            elif isinstance(part.get("text"), str) and part["text"]:
                if part.get("thought"):
                    self._thoughts.append(part["text"])
                    events.append(ReasoningDelta(part["text"]))
                else:
                    self._parts.append(part["text"])
                    events.append(TextDelta(part["text"]))
        if candidate.get("finishReason"):
            self.finish = candidate
        return events

    def merged(self) -> dict[str, Any]:
        """The chunks so far as one ``GenerateContentResponse``."""
        parts: list[dict[str, Any]] = []
        signature = self.rest.get("signature")
        if self._thoughts or signature:
            thought: dict[str, Any] = {"text": "".join(self._thoughts), "thought": True}
            if signature:
                thought["thoughtSignature"] = signature
            parts.append(thought)
        if self._parts:
            parts.append({"text": "".join(self._parts)})
        parts.extend({"functionCall": call} for call in self._calls)
        candidate = dict(self.finish or {})
        candidate["content"] = {"role": "model", "parts": parts}
        merged = {k: v for k, v in self.rest.items() if k != "signature"}
        merged["candidates"] = [candidate]
        if self._feedback is not None:
            merged["promptFeedback"] = self._feedback
        return merged

    def finish_response(self) -> ChatResponse:
        """The whole response, once the stream has ended; a stream without its finish reason was cut."""
        if self.finish is None:
            raise StreamInterruptedError("the stream ended before Gemini sent a finish reason", provider=self.provider)
        return parse_response(self.merged(), provider=self.provider, model=self.model)


# -- errors ----------------------------------------------------------------------------

_STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_AUTH_REASONS = ("API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_MISSING", "ACCESS_TOKEN_EXPIRED")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _retry_delay(details: Any) -> float | None:
    """The delay of a ``google.rpc.RetryInfo`` detail (``"retryDelay": "12.5s"``), in seconds."""
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            found = _DURATION.match(str(detail.get("retryDelay", "")))
            if found:
                return float(found.group(1))
    return None


def _reasons(details: Any) -> list[str]:
    return [
        str(detail.get("reason"))
        for detail in (details if isinstance(details, list) else ())
        if isinstance(detail, dict) and detail.get("reason")
    ]


def error_from_google(
    payload: Any, provider: str, status: int | None = None, headers: Any = None, raw: bytes = b""
) -> ProviderError:
    """The typed error for Google's error body (an HTTP error, or an error chunk inside a stream).

    ``API_KEY_INVALID`` (sent with 400) is an :class:`~ai_core.AuthenticationError`;
    ``RESOURCE_EXHAUSTED`` takes its ``retry_after`` from the ``RetryInfo`` detail
    (else the ``Retry-After`` header); a prompt over the model's limit is a
    :class:`~ai_core.ContextLengthExceededError`.
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        text = raw[:300].decode("utf-8", "replace") if raw else str(payload)[:300]
        code = status or 500
        return error_for_status(code, text or f"HTTP {code}", headers=headers, provider=provider, body=payload)
    google_status = str(error.get("status") or "")
    code_value = error.get("code")
    http_status = status or (code_value if isinstance(code_value, int) else None)
    http_status = http_status or _STATUS_CODES.get(google_status, 500)
    message = str(error.get("message") or google_status or f"HTTP {http_status}")
    details = error.get("details")
    reasons = _reasons(details)
    label = next((r for r in reasons if r in _AUTH_REASONS), None) or google_status or None
    request_id = headers.get("x-request-id") if headers is not None else None
    common: dict[str, Any] = {"provider": provider, "status_code": http_status, "code": label, "body": payload,
                              "request_id": request_id}  # fmt: skip
    if any(reason in _AUTH_REASONS for reason in reasons) or google_status == "UNAUTHENTICATED":
        return AuthenticationError(message, **common)
    if http_status == 429 or google_status == "RESOURCE_EXHAUSTED":
        delay = _retry_delay(details)
        if delay is None:
            delay = retry_after_seconds(headers)
        return RateLimitError(message, retry_after=delay, **common)
    if http_status == 400 and any(marker in message.lower() for marker in _CONTEXT_MARKERS):
        return ContextLengthExceededError(message, **common)
    return error_for_status(http_status, message, headers=headers, **common)


# -- models ----------------------------------------------------------------------------


def parse_model_list(payload: Any, provider: str) -> tuple[list[ModelInfo], str | None]:
    """One page of ``GET /v1beta/models``: the models that generate content, and the next page's token."""
    if not isinstance(payload, dict):
        raise MalformedResponseError(f"unexpected model list: {str(payload)[:200]}", provider=provider)
    found: list[ModelInfo] = []
    for model in payload.get("models") or []:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            continue
        methods = model.get("supportedGenerationMethods") or []
        if methods and "generateContent" not in methods:
            continue  # embeddings, image and other models this driver does not call
        found.append(
            ModelInfo(
                provider=provider,
                id=model["name"].removeprefix("models/"),
                name=model.get("displayName"),
                context_window=model.get("inputTokenLimit"),
                max_output_tokens=model.get("outputTokenLimit"),
                reasoning=bool(model.get("thinking")),
            )
        )
    token = payload.get("nextPageToken")
    return found, str(token) if token else None
