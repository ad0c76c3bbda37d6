"""Per-provider quirks of the OpenAI Chat Completions dialect.

Every server speaking this dialect differs a little: which token-limit field it
takes, whether it knows the ``developer`` role, which parameters its reasoning
models reject, how it counts reasoning tokens. A :class:`ChatProfile` names
those differences as data, so the wire code stays one piece and a provider is a
profile, not a fork (pydantic-ai's "model profile" idea).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ai_core.types import ChatRequest

__all__ = ["COMPATIBLE", "ChatProfile", "RequestCheck"]

RequestCheck = Callable[["ChatRequest", dict[str, Any], bool], None]
"""``(request, body, is_reasoning_model)``: raise to refuse, or edit ``body`` in place."""


def _never(model: str) -> bool:
    return False


@dataclass(frozen=True)
class ChatProfile:
    """What one provider's flavour of Chat Completions needs.

    The defaults describe a plain OpenAI-compatible server (vLLM, LM Studio,
    Ollama's ``/v1``): ``max_tokens``, ``system`` role, no reasoning models known.
    """

    name: str = "openai-compatible"

    reasoning_model: Callable[[str], bool] = _never
    """Whether a model id is a reasoning model (changes the fields below)."""

    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """The token-limit field for ordinary models."""

    reasoning_max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_completion_tokens"
    """The token-limit field for reasoning models (OpenAI's o-series reject ``max_tokens``)."""

    developer_role: Literal["never", "reasoning", "always"] = "never"
    """When system instructions travel as ``developer`` messages.

    ``never`` also turns a caller's explicit ``developer`` message into
    ``system``, for servers that do not know the role.
    """

    reasoning_in_completion: bool | None = None
    """Whether ``completion_tokens`` already includes reasoning tokens.

    OpenAI: yes. xAI: no, it reports them on top. ``None``: decide per response
    from ``total_tokens`` (the sum that matches tells which convention it is).
    """

    reasoning_keys: tuple[str, ...] = ("reasoning_content", "reasoning")
    """Message/delta keys that carry reasoning text (DeepSeek, vLLM, xAI use the first)."""

    reasoning_rejects: frozenset[str] = frozenset()
    """Body fields reasoning models refuse; sending one is a RequestValidationError."""

    forbidden_options: Mapping[str, str] = field(default_factory=dict)
    """Body fields never to send, each with the reason shown to the caller."""

    max_stop_sequences: int | None = None
    """How many stop sequences the server accepts (OpenAI: 4)."""

    list_model_filter: Callable[[str], bool] | None = None
    """Keeps the chat models out of ``GET /models`` (which also lists embeddings, TTS...)."""

    check_request: RequestCheck | None = None
    """A last provider-specific check or edit of the body, e.g. allowed effort values."""

    def is_reasoning(self, model: str) -> bool:
        return self.reasoning_model(model)


COMPATIBLE = ChatProfile()
"""The profile of a generic OpenAI-compatible server."""
