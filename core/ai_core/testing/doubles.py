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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.types import ChatRequest

__all__ = [
    "ConformanceDouble",
    "ConformanceProfile",
    "ErrorReply",
    "FakeDouble",
    "JsonReply",
    "Reply",
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


Reply = TextReply | ToolCallReply | JsonReply | ErrorReply


@dataclass(frozen=True)
class ConformanceProfile:
    """What the driver and its double can do, so the suite runs what applies.

    A feature set to ``False`` makes its tests skip with a reason; the driver's
    declared :class:`~ai_core.types.Capabilities` must still include every
    feature set to ``True`` here.

    :param model: the model id requests use (the provider's own id).
    :param priced: the model has a price in the registry, so the pipeline's
        cost must have a known, positive total.
    """

    model: str
    tools: bool = True
    vision: bool = True
    json_schema: bool = True
    errors: bool = True
    priced: bool = True


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


_FAKE_ERRORS = {401: "authentication", 403: "permission", 404: "not_found", 429: "rate_limit", 400: "invalid_request"}


class FakeDouble(ConformanceDouble):
    """The built-in fake is its own double.

    It answers in echo mode (``"Echo: <last user text>"``) and is steered
    through the request: a tool call by ``tool_choice`` and
    ``fake_tool_arguments``, JSON by ``fake_json``, failures by ``fake_error``.
    Its failures are canned (a 429 always says ``retry_after=0.01``), hence
    ``exact_errors = False``.
    """

    exact_errors = False

    def arrange(self, request: ChatRequest, reply: Reply) -> ChatRequest:
        options = dict(request.provider_options)
        update: dict[str, Any] = {}
        if isinstance(reply, ToolCallReply):
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
        return f"Echo: {request_key(request)}"
