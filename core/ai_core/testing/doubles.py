"""How the conformance suite talks to the server double behind a driver.

The suite never knows a wire format. It builds a provider-neutral
:class:`~ai_core.types.ChatRequest`, tells the double what the answer to that
request must be (a :data:`Reply`), sends it through the driver, and checks
that what comes back is what the reply implies. A plugin author writes one
:class:`ConformanceDouble` adapter over their local server (a few lines: queue
the reply, or key it by the request's text) and a :class:`ConformanceProfile`
saying what that server can do.

Replies are bound to a request, not to "the next call", because
``send_batch`` runs calls concurrently: a double that queues replies should key
them by :func:`request_key` (the last user text, which the suite makes unique).

Some checks also need to know what reached the server (the system prompt, the
tool calls and results of the history): a double that can tell overrides
:meth:`ConformanceDouble.received` and returns a :class:`Received`; those
checks skip, saying why, for a double that cannot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.types import ChatRequest

__all__ = [
    "CachedReply",
    "ConformanceDouble",
    "ConformanceProfile",
    "ErrorReply",
    "FakeDouble",
    "JsonReply",
    "Received",
    "Reply",
    "StreamErrorReply",
    "TextReply",
    "ToolCallReply",
    "request_key",
]


@dataclass(frozen=True)
class TextReply:
    """Answer with this text (split into several chunks when streaming)."""

    text: str


@dataclass(frozen=True)
class ToolCallReply:
    """Answer by calling one tool with these (JSON object) arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JsonReply:
    """Answer with this object serialised as JSON text (structured output)."""

    data: dict[str, Any]


@dataclass(frozen=True)
class ErrorReply:
    """Fail the way the provider fails with this HTTP status.

    ``retry_after`` is the ``Retry-After`` value in seconds a 429 carries.
    """

    status: int
    retry_after: float | None = None
    message: str = "refused by the conformance double"


@dataclass(frozen=True)
class StreamErrorReply:
    """Stream ``text`` in several chunks, then fail *inside* the stream, as the
    provider reports an error after the response began (HTTP status already
    200): an error event or error chunk meaning ``status`` (503: overloaded).

    A double whose wire format reports usage before the end (see
    :attr:`ConformanceProfile.usage_before_end`) reports ``input_tokens``
    before failing.
    """

    text: str
    status: int = 503
    message: str = "overloaded, failed mid-stream by the conformance double"
    input_tokens: int = 21


@dataclass(frozen=True)
class CachedReply:
    """Answer with ``text`` and report a prompt of ``input_tokens`` tokens in all,
    ``cached_tokens`` of them read from the provider's prompt cache, and
    ``output_tokens`` generated.

    The double renders this in the provider's own usage shape: OpenAI's
    ``prompt_tokens`` includes cache reads, Anthropic's ``input_tokens`` does
    not (``cache_read_input_tokens`` comes apart). Either way the driver must
    report ``TokenUsage(input_tokens=input_tokens, cached_input_tokens=cached_tokens)``.
    """

    text: str
    input_tokens: int = 48
    cached_tokens: int = 32
    output_tokens: int = 6


Reply = TextReply | ToolCallReply | JsonReply | ErrorReply | StreamErrorReply | CachedReply


@dataclass(frozen=True)
class Received:
    """What the server got for one request, read back from its wire format.

    :param system: the system prompt (instructions), or ``None`` if none arrived.
    :param tool_calls: ``(id, name, arguments)`` of the tool calls in the
        history's assistant turns, in order.
    :param tool_results: ``(tool_call_id, content)`` of the tool results in the
        history, in order.
    """

    system: str | None = None
    tool_calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    tool_results: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ConformanceProfile:
    """What the driver and its double can do, so the suite runs what applies.

    A feature set to ``False`` makes its tests skip with a reason; the driver's
    declared :class:`~ai_core.types.Capabilities` must still include every
    feature set to ``True`` here.

    :param model: the model id requests use (the provider's own id).
    :param priced: the model has a price in the registry, so the pipeline's
        cost must have a known, positive total.
    :param stream_errors: the double can fail part-way through a stream
        (:class:`StreamErrorReply`).
    :param cached_tokens: the double can report prompt-cache reads
        (:class:`CachedReply`); ``False`` for a provider without a prompt
        cache, which must then report none.
    :param usage_before_end: the wire format reports usage before a stream
        ends (xAI repeats it on every chunk; Anthropic sends the input count
        first), so a stream cut part-way must pass on what was reported.
    """

    model: str
    tools: bool = True
    vision: bool = True
    json_schema: bool = True
    errors: bool = True
    priced: bool = True
    stream_errors: bool = True
    cached_tokens: bool = True
    usage_before_end: bool = False


def request_key(request: ChatRequest) -> str:
    """The last user message's text: unique per request in the suite."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return ""


class ConformanceDouble(ABC):
    """Adapter between the suite and a driver's local server double.

    :attr exact_errors: the double fails with exactly the status and
        ``Retry-After`` it is given, so the suite checks ``status_code`` and
        ``retry_after`` values, not only the error class.
    """

    exact_errors: bool = True

    @abstractmethod
    def arrange(self, request: ChatRequest, reply: Reply) -> ChatRequest:
        """Make the double answer one call of ``request`` with ``reply``.

        Return the request the suite should send: usually ``request`` itself;
        a double steered through the request (like the fake, through
        ``provider_options``) returns a modified copy. Arranging the same
        request twice arranges two calls.
        """

    def expected_text(self, request: ChatRequest, reply: TextReply) -> str | None:
        """The text the double will answer with; ``None`` when it cannot be known.

        The default is the scripted text; a double with a fixed or echoing
        answer overrides this.
        """
        return reply.text

    def expected_input_tokens(self, request: ChatRequest, reply: CachedReply | StreamErrorReply) -> int | None:
        """The prompt tokens the double reports for ``reply``; ``None`` when unknown."""
        return reply.input_tokens

    def received(self, request: ChatRequest) -> Received | None:
        """What the server received for ``request`` (the last call of it), or
        ``None`` when this double cannot tell; the checks that need it skip."""
        return None


_FAKE_ERRORS = {401: "authentication", 403: "permission", 404: "not_found", 429: "rate_limit", 400: "invalid_request"}


class FakeDouble(ConformanceDouble):
    """The built-in fake is its own double.

    It answers in echo mode (``"Echo: <last user text>"``, or what a tool
    returned when the history ends with a tool result) and is steered through
    the request: a tool call by ``tool_choice`` and ``fake_tool_arguments``,
    JSON by ``fake_json``, failures by ``fake_error``, a failure part-way
    through a stream by ``fake_stream_error_after``, cache reads by
    ``fake_cached_tokens``. Its failures are canned (a 429 always says
    ``retry_after=0.01``), hence ``exact_errors = False``.

    Given the driver (``FakeDouble(driver)``), it reads what the driver was
    sent from ``driver.calls``, so the checks that need :meth:`received` run.
    """

    exact_errors = False

    def __init__(self, driver: Any = None) -> None:
        self.driver = driver

    def arrange(self, request: ChatRequest, reply: Reply) -> ChatRequest:
        options = dict(request.provider_options)
        update: dict[str, Any] = {}
        if isinstance(reply, StreamErrorReply):
            options["fake_stream_error_after"] = True
        elif isinstance(reply, CachedReply):
            options["fake_cached_tokens"] = reply.cached_tokens
        elif isinstance(reply, ToolCallReply):
            options["fake_tool_arguments"] = reply.arguments
            update["tool_choice"] = reply.name
        elif isinstance(reply, JsonReply):
            options["fake_json"] = reply.data
        elif isinstance(reply, ErrorReply):
            options["fake_error"] = _FAKE_ERRORS.get(
                reply.status, "unavailable" if reply.status >= 500 else "invalid_request"
            )
        if not options and not update:
            return request
        return request.model_copy(update={**update, "provider_options": options})

    def expected_text(self, request: ChatRequest, reply: TextReply) -> str | None:
        last = request.messages[-1]
        if last.role == "tool":
            from ai_core.types import ToolResultPart

            results = [p for p in last.parts if isinstance(p, ToolResultPart)]
            return "; ".join(f"{r.name or 'tool'} returned: {r.content}" for r in results)
        return f"Echo: {request_key(request)}"

    def expected_input_tokens(self, request: ChatRequest, reply: CachedReply | StreamErrorReply) -> int | None:
        from ai_core.drivers.fake import _prompt_tokens  # the fake's own count, so exact

        return _prompt_tokens(request)

    def received(self, request: ChatRequest) -> Received | None:
        if self.driver is None:
            return None
        key = request_key(request)
        sent = [call for call in getattr(self.driver, "calls", []) if request_key(call) == key]
        return received_from(sent[-1]) if sent else Received()


def received_from(request: ChatRequest) -> Received:
    """:class:`Received` for a double that is handed the request itself (a fake)."""
    from ai_core.types import ToolResultPart

    calls = tuple((c.id, c.name, dict(c.arguments)) for m in request.messages for c in m.tool_calls)
    results = tuple(
        (p.tool_call_id, p.content) for m in request.messages for p in m.parts if isinstance(p, ToolResultPart)
    )
    return Received(system=request.system, tool_calls=calls, tool_results=results)
