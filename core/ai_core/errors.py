"""The one exception hierarchy of ai-core.

Drivers map every provider status, error body and transport failure onto these
classes once, at the boundary, with ``raise ... from exc`` so the underlying
exception stays reachable as ``__cause__`` without leaking into user code.

    AIError
    ├── ConfigurationError
    │   ├── MissingCredentialsError
    │   ├── UnknownProviderError
    │   └── UnknownModelError
    ├── RequestValidationError        (a request that cannot be sent as built)
    ├── PluginLoadError
    ├── BudgetExceededError
    │   └── BudgetUnknownCostError    (a budget refuses a call it cannot price)
    ├── ScriptExhaustedError          (the scripted fake ran out of replies)
    ├── CredentialError               (a stored credential cannot be read)
    ├── StorageError                  (the database cannot be opened, read or written)
    ├── LedgerWriteError              (an answered call could not be written to the ledger)
    ├── IntegrationError              (a webhook or notification could not be delivered)
    ├── ToolLoopError                 (the MCP/tool loop could not finish)
    │   └── ToolCallsPendingError     (tool calls await approve()/deny() before the next send)
    ├── MCPError                      (an MCP server could not answer; carries ``server``)
    │   ├── MCPConnectionError        cannot start, reach or handshake with the server
    │   ├── MCPServerCrashedError     the connection ended while a request was open
    │   ├── MCPTimeoutError           no answer within the call timeout (a hung server)
    │   └── MCPProtocolError          an answer that is not valid MCP (garbage)
    └── ProviderError                 (anything a provider call can end in)
        ├── AuthenticationError       401, bad or missing key
        ├── PermissionDeniedError     403
        ├── NotFoundError             404, e.g. an unknown model
        ├── RateLimitError            429, carries retry_after
        │   └── RateLimitReachedError a limit of ai-core's own (AI_RATE_LIMITS) refused the call
        ├── InvalidRequestError       400/422
        │   └── ContextLengthExceededError
        ├── ContentFilteredError
        ├── ProviderUnavailableError  5xx, connection failures
        ├── ProviderTimeoutError      no response in time, a stream idle too long
        │   └── DeadlineExceededError a call past its total deadline (never retried)
        ├── StreamInterruptedError    a stream cut off before its end
        └── MalformedResponseError    a body that is not the expected shape

Errors never carry secrets: every attribute set on an :class:`AIError` (its
message, a provider's ``body`` and ``code``, ``args``, notes, anything a
subclass adds) passes through :func:`ai_core.redaction.redact_value` when it is
set, and ``str()``/``repr()`` redact again when rendered, so a key a provider
echoes back (in a 401 body or an SSE error event) never survives on the error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

__all__ = [
    "AIError",
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetUnknownCostError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthExceededError",
    "CredentialError",
    "DeadlineExceededError",
    "IntegrationError",
    "InvalidRequestError",
    "LedgerWriteError",
    "MCPConnectionError",
    "MCPError",
    "MCPProtocolError",
    "MCPServerCrashedError",
    "MCPTimeoutError",
    "MalformedResponseError",
    "MissingCredentialsError",
    "ModelShutDownError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginLoadError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RateLimitReachedError",
    "RequestValidationError",
    "ScriptExhaustedError",
    "StorageError",
    "StreamInterruptedError",
    "ToolCallsPendingError",
    "ToolLoopError",
    "UnknownModelError",
    "UnknownProviderError",
]


def _clean(message: str) -> str:
    # Imported lazily: redaction pulls in regexes nobody needs at import time.
    from ai_core.redaction import redact

    return redact(message)


def _scrub(value: Any) -> Any:
    from ai_core.redaction import redact_value

    return redact_value(value)


class AIError(Exception):
    """Base of every error ai-core raises on purpose.

    Every attribute is redacted as it is set (see the module docstring), so a
    subclass or a caller adding ``error.body = ...`` cannot store a secret.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(self.message)

    def __setattr__(self, name: str, value: Any) -> None:
        # Dunders (__cause__, __traceback__, ...) hold objects, not text we own.
        if not (name.startswith("__") and name.endswith("__")):
            value = _scrub(value)
        super().__setattr__(name, value)

    def __str__(self) -> str:
        # Again at render time: a secret remembered after the error was made is blanked too.
        return _clean(super().__str__())

    def __repr__(self) -> str:
        return _clean(super().__repr__())

    def add_note(self, note: str, /) -> None:
        super().add_note(_clean(note))


class ConfigurationError(AIError):
    """The configuration cannot serve the call (no such provider, no key, ...)."""


class MissingCredentialsError(ConfigurationError):
    """A provider that needs an API key has none configured."""

    def __init__(self, provider: str, variables: tuple[str, ...] = ()) -> None:
        hint = f" (set {' or '.join(variables)})" if variables else ""
        super().__init__(f"no API key configured for provider {provider!r}{hint}")
        self.provider = provider
        self.variables = variables


class UnknownProviderError(ConfigurationError):
    """No installed plugin registers the provider a model string names."""

    def __init__(self, provider: str, known: list[str]) -> None:
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown provider {provider!r}; installed providers: {listing}")
        self.provider = provider
        self.known = known


class UnknownModelError(ConfigurationError):
    """A model is not known where a known model is required (e.g. to price it)."""

    def __init__(self, model: str, detail: str = "") -> None:
        super().__init__(f"unknown model {model!r}" + (f": {detail}" if detail else ""))
        self.model = model


class RequestValidationError(AIError):
    """A request is malformed before anything is sent; ``errors`` lists why."""

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(message)
        # A Sequence of Mappings, so pydantic's ``ValidationError.errors()`` (ErrorDetails) fits as is.
        self.errors: Sequence[Mapping[str, Any]] = errors or []


class ModelShutDownError(RequestValidationError):
    """The model was shut down by its provider: refused before sending, naming the replacement if any."""

    def __init__(self, model: str, shutdown_on: date, replacement: str | None = None) -> None:
        instead = f"; use {replacement} instead" if replacement else ""
        super().__init__(
            f"{model} was shut down by its provider on {shutdown_on.isoformat()}{instead}",
            errors=[{"type": "model_shut_down", "loc": ("model",), "msg": f"shut down on {shutdown_on.isoformat()}"}],
        )
        self.model = model
        self.shutdown_on = shutdown_on
        self.replacement = replacement


class PluginLoadError(AIError):
    """A plugin could not be imported or registered; other plugins keep working."""

    def __init__(self, name: str, distribution: str | None, error: str) -> None:
        super().__init__(f"plugin {name!r} ({distribution or 'unknown distribution'}) failed: {error}")
        self.name = name
        self.distribution = distribution
        self.error = error


def _money(value: Decimal) -> str:
    """Plain digits for people: ``0.00007``, never ``7.0000E-5`` or ``0E-18``."""
    text = format(value, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


class BudgetExceededError(AIError):
    """A hard budget limit refuses the request before any provider is called."""

    def __init__(
        self,
        budget: str,
        *,
        limit: Decimal,
        spent: Decimal,
        requested: Decimal,
        currency: str = "USD",
        held: Decimal = Decimal(0),
        minimum: bool = False,
    ) -> None:
        over = spent + held + requested - limit
        used = f"spent {_money(spent)}" + (f", held {_money(held)} by calls in flight" if held else "")
        needs = "needs at least" if minimum else "needs up to"
        super().__init__(
            f"budget {budget!r} exceeded: limit {_money(limit)} {currency}, {used}, "
            f"this request {needs} {_money(requested)}, over by {_money(over)}"
        )
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.held = held
        """Money held by calls in flight (reserved, not yet spent)."""
        self.requested = requested
        self.over_by = over
        self.currency = currency


class BudgetUnknownCostError(BudgetExceededError):
    """A budget refuses a call whose price is unknown (``unknown_cost="refuse"``):
    an unknown cost never counts as free."""

    def __init__(self, budget: str, model: str, *, limit: Decimal, currency: str = "USD") -> None:
        AIError.__init__(
            self,
            f"budget {budget!r} refuses {model}: its price is unknown, and an unknown cost never counts "
            "as free (set unknown_cost='count_as' with unknown_cost_amount to allow it)",
        )
        self.budget = budget
        self.limit = limit
        self.spent = Decimal(0)
        self.held = Decimal(0)
        self.requested = Decimal(0)
        self.over_by = Decimal(0)
        self.currency = currency


class ScriptExhaustedError(AIError):
    """The scripted fake driver was called more often than it has replies for."""


class CredentialError(AIError):
    """A stored credential cannot be decrypted: wrong or missing encryption key."""


class ToolLoopError(AIError):
    """The tool-calling loop could not finish (unknown tool, too many rounds)."""


class ToolCallsPendingError(ToolLoopError):
    """The conversation has deferred tool calls; ``approve()`` or ``deny()`` them first."""

    def __init__(self, message: str, *, call_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.call_ids = list(call_ids)


class MCPError(AIError):
    """An MCP server could not answer a request. ``server`` names it."""

    def __init__(self, message: str, *, server: str | None = None) -> None:
        super().__init__(message)
        self.server = server


class MCPConnectionError(MCPError):
    """The server could not be started, reached or initialised."""


class MCPServerCrashedError(MCPError):
    """The server went away (its process exited, the connection closed) mid-request."""


class MCPTimeoutError(MCPError):
    """The server did not answer within the call timeout."""


class MCPProtocolError(MCPError):
    """The server answered with something that is not valid MCP."""


class StorageError(AIError):
    """The database cannot be opened, read or written: a bad path or URL, a
    server that is down, a locked, full, read-only, damaged or foreign database.
    The message says which and what to do; ``database`` is the URL (password
    masked) when known."""

    def __init__(self, message: str, *, database: str | None = None) -> None:
        super().__init__(message)
        self.database = database


class ProviderError(AIError):
    """A provider call failed. Carries what the provider said, minus secrets."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        prefix = f"{provider}: " if provider else ""
        super().__init__(prefix + message)
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (HTTP 401)."""


class PermissionDeniedError(ProviderError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class NotFoundError(ProviderError):
    """The model or resource does not exist at the provider (HTTP 404)."""


class RateLimitError(ProviderError):
    """Too many requests (HTTP 429). ``retry_after`` is in seconds when known."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimitReachedError(RateLimitError):
    """A rate limit configured in ai-core (``AI_RATE_LIMITS``, the config file, ``AI(rate_limits=...)``)
    refused the call before it was sent, after waiting as long as allowed (``AI_RATE_LIMIT_WAIT``).
    ``limit`` says which (``"60 requests per minute for tenant 'acme'"``), ``retry_after`` in how
    many seconds it frees. Never retried by core: the wait already happened."""

    retryable = False

    def __init__(self, message: str, *, limit: str, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)
        self.limit = limit


class InvalidRequestError(ProviderError):
    """The provider refused the request as invalid (HTTP 400/422)."""


class ContextLengthExceededError(InvalidRequestError):
    """The prompt plus the requested output does not fit the model's context.

    Raised by the provider (HTTP 400), or before sending when core's estimate
    already exceeds the model's context window: then ``estimated_tokens`` and
    ``context_window`` say by how much, and nothing was paid."""

    def __init__(
        self, message: str, *, estimated_tokens: int | None = None, context_window: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.estimated_tokens = estimated_tokens
        self.context_window = context_window


class ContentFilteredError(ProviderError):
    """The provider's content filter blocked the prompt or the answer."""


class ProviderUnavailableError(ProviderError):
    """The provider is down, overloaded or unreachable (HTTP 5xx, connect errors)."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """A connect, read or idle-stream timeout expired."""

    retryable = True


class StreamInterruptedError(ProviderError):
    """A stream ended before the provider said it was done."""

    retryable = True


class MalformedResponseError(ProviderError):
    """The provider answered with a body that is not the expected JSON shape."""


class IntegrationError(AIError):
    """A webhook or a notification could not be delivered (the receiver refused it, or was unreachable)."""


class LedgerWriteError(AIError):
    """A provider answered but its call could not be written to the ledger (a
    full disk, a lost database). The answer is not lost: it is ``response``."""

    def __init__(self, message: str, *, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


class DeadlineExceededError(ProviderTimeoutError):
    """A call, its retries included, ran past its total deadline
    (``AI_TOTAL_TIMEOUT``): an endless stream, a body trickled a byte at a time.
    Not retried: the time it had is spent. ``seconds`` is the deadline."""

    retryable = False

    def __init__(self, message: str, *, seconds: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.seconds = seconds
