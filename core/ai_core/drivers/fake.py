"""The built-in ``fake`` provider: a driver that never touches the network.

Two ways to use it, after pydantic-ai's TestModel and FunctionModel:

* **echo** (the default, ``fake/echo``): answers ``"Echo: <last user text>"``
  with realistic token counts; with tools and a ``required``/named tool choice
  it calls the tool, then answers with the tool's result.
* **scripted**: ``FakeDriver.scripted([...])`` answers with the given replies in
  order (a string, a :class:`ChatResponse`, a list of tool calls, an exception
  to raise, or a function of the request). When the script runs out it raises
  :class:`~ai_core.errors.ScriptExhaustedError` instead of inventing answers.

Errors on demand: ``provider_options={"fake_error": "rate_limit"}`` (or any key
of :data:`ERRORS`). Every call is recorded in ``driver.calls`` for assertions.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, cast

import anyio

from ai_core import errors
from ai_core.drivers.base import Driver, ProviderConfig
from ai_core.drivers.streaming import StreamAccumulator
from ai_core.types import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    Message,
    ModelInfo,
    ReasoningPart,
    StreamCompleted,
    StreamEvent,
    TextDelta,
    TextPart,
    TokenUsage,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    UsageReported,
)

__all__ = ["ERRORS", "FAKE_CAPABILITIES", "FakeDriver", "count_tokens"]

FAKE_CAPABILITIES = Capabilities(
    streaming=True, tools=True, tool_streaming=True, vision=True, json_schema=True, reasoning=True, list_models=True
)

ERRORS: dict[str, Callable[[], errors.ProviderError]] = {
    "authentication": lambda: errors.AuthenticationError("invalid API key", provider="fake", status_code=401),
    "permission": lambda: errors.PermissionDeniedError("not allowed", provider="fake", status_code=403),
    "not_found": lambda: errors.NotFoundError("no such model", provider="fake", status_code=404),
    "rate_limit": lambda: errors.RateLimitError("slow down", provider="fake", status_code=429, retry_after=0.01),
    "invalid_request": lambda: errors.InvalidRequestError("bad request", provider="fake", status_code=400),
    "context_length": lambda: errors.ContextLengthExceededError("prompt too long", provider="fake", status_code=400),
    "content_filter": lambda: errors.ContentFilteredError("blocked", provider="fake"),
    "unavailable": lambda: errors.ProviderUnavailableError("down", provider="fake", status_code=503),
    "timeout": lambda: errors.ProviderTimeoutError("timed out", provider="fake"),
    "stream_interrupted": lambda: errors.StreamInterruptedError("stream cut off", provider="fake"),
}

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)

Reply = str | ChatResponse | Message | Sequence[ToolCallPart] | BaseException | Callable[[ChatRequest], Any]
# What a Reply comes to once a scripted callable has been called with the request.
_Answer = str | ChatResponse | Message | Sequence[ToolCallPart] | BaseException


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation."""
    return len(_WORD.findall(text))


def _prompt_tokens(request: ChatRequest) -> int:
    total = count_tokens(request.system or "")
    for message in request.messages:
        total += 3  # role and separators, as real chat formats add
        for part in message.parts:
            if isinstance(part, TextPart | ReasoningPart):
                total += count_tokens(part.text)
            elif isinstance(part, ToolResultPart):
                total += count_tokens(part.content)
            elif isinstance(part, ToolCallPart):
                total += count_tokens(part.name) + count_tokens(json.dumps(part.arguments))
            else:
                total += 85  # an image, as OpenAI's low-detail tile
    for tool in request.tools or []:
        total += count_tokens(tool.name + " " + tool.description + " " + json.dumps(tool.parameters))
    return total


class FakeDriver(Driver):
    """A deterministic, offline provider for demos and tests."""

    capabilities = FAKE_CAPABILITIES

    def __init__(self, config: ProviderConfig | None = None, *, script: Iterable[Reply] | None = None) -> None:
        super().__init__(config or ProviderConfig(provider="fake"))
        self._script: list[Reply] | None = list(script) if script is not None else None
        self.calls: list[ChatRequest] = []
        self.chunk_delay: float = float(self.config.options.get("chunk_delay", 0))

    @classmethod
    def scripted(cls, replies: Iterable[Reply], *, provider: str = "fake") -> FakeDriver:
        return cls(ProviderConfig(provider=provider), script=replies)

    # -- answering -------------------------------------------------------------

    def _next_reply(self, request: ChatRequest) -> _Answer:
        if self._script is None:
            return self._echo(request)
        if not self._script:
            raise errors.ScriptExhaustedError(
                f"the scripted fake has no reply left for call #{len(self.calls)} "
                f"(last user text: {_last_user_text(request)!r})"
            )
        reply = self._script.pop(0)
        if callable(reply) and not isinstance(reply, BaseException | type):
            return reply(request)
        return cast(_Answer, reply)  # callables were called above; mypy cannot narrow that condition

    def _echo(self, request: ChatRequest) -> _Answer:
        last = request.messages[-1]
        if last.role == "tool":
            results = [p for p in last.parts if isinstance(p, ToolResultPart)]
            return "; ".join(f"{r.name or 'tool'} returned: {r.content}" for r in results)
        choice = request.tool_choice
        if request.tools and choice and choice not in ("auto", "none"):
            tool = next((t for t in request.tools if t.name == choice), request.tools[0])
            arguments = request.provider_options.get("fake_tool_arguments", {})
            return [ToolCallPart(id=f"call_{len(self.calls)}", name=tool.name, arguments=arguments)]
        if request.response_format is not None:
            return json.dumps(request.provider_options.get("fake_json", {}))
        return f"Echo: {_last_user_text(request)}"

    def _respond(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        error = request.provider_options.get("fake_error")
        if error:
            if error not in ERRORS:
                raise errors.RequestValidationError(f"unknown fake_error {error!r}; choose from {sorted(ERRORS)}")
            raise ERRORS[error]()
        reply = self._next_reply(request)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ChatResponse):
            return reply
        if isinstance(reply, Message):
            message = reply
        elif isinstance(reply, str):
            message = Message.assistant(reply)
        else:
            message = Message(role="assistant", parts=list(reply))
        output = sum(count_tokens(p.text) for p in message.parts if isinstance(p, TextPart | ReasoningPart))
        output += sum(count_tokens(p.name) + count_tokens(json.dumps(p.arguments)) for p in message.tool_calls)
        cached = int(request.provider_options.get("fake_cached_tokens", 0))
        reasoning = int(request.provider_options.get("fake_reasoning_tokens", 0))
        prompt = _prompt_tokens(request)
        usage = TokenUsage(
            input_tokens=prompt,
            output_tokens=max(output, 1) + reasoning,
            cached_input_tokens=min(cached, prompt),
            reasoning_tokens=reasoning,
        )
        if request.max_tokens is not None and usage.output_tokens > request.max_tokens and not message.tool_calls:
            words = message.text.split(" ")
            message = Message.assistant(" ".join(words[: request.max_tokens]))
            usage = usage.model_copy(
                update={"output_tokens": request.max_tokens, "total_tokens": prompt + request.max_tokens}
            )
            finish = "length"
        else:
            finish = "tool_calls" if message.tool_calls else "stop"
        return ChatResponse(
            id=f"fake-{len(self.calls)}",
            provider=self.provider,
            model=request.model,
            message=message,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=usage,
        )

    # -- the driver contract ---------------------------------------------------

    async def send(self, request: ChatRequest) -> ChatResponse:
        await anyio.lowlevel.checkpoint()
        return self._respond(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        response = self._respond(request)
        acc = StreamAccumulator(self.provider, response.model)
        acc.id = response.id
        if response.message.reasoning:
            yield _reasoning_delta(acc, response.message.reasoning)
        words = re.findall(r"\S+\s*|\s+", response.text)
        for word in words:
            if self.chunk_delay:
                await anyio.sleep(self.chunk_delay)
            else:
                await anyio.lowlevel.checkpoint()
            acc.add_text(word)
            yield TextDelta(word)
        if request.provider_options.get("fake_stream_error_after") is not None:
            raise errors.StreamInterruptedError("stream cut off by request", provider=self.provider)
        for index, call in enumerate(response.tool_calls):
            first = ToolCallDelta(index=index, id=call.id, name=call.name, arguments="")
            rest = ToolCallDelta(index=index, arguments=json.dumps(call.arguments))
            for delta in (first, rest):
                acc.add_tool_delta(delta)
                yield delta
        acc.usage = response.usage
        acc.finish_reason = response.finish_reason
        yield UsageReported(response.usage)
        yield StreamCompleted(acc.build())

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                provider=self.provider,
                id="echo",
                name="Fake echo",
                context_window=128_000,
                max_output_tokens=4096,
                capabilities=FAKE_CAPABILITIES,
            )
        ]

    async def validate_credentials(self) -> bool:
        return self.config.options.get("valid_key", True) is not False


def _reasoning_delta(acc: StreamAccumulator, text: str) -> StreamEvent:
    from ai_core.types import ReasoningDelta

    acc.add_reasoning(text)
    return ReasoningDelta(text)


def _last_user_text(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return ""
