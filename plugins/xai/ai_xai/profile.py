"""xAI's differences from OpenAI's Chat Completions (../shared/specs/README.md, "xAI").

- Reasoning models refuse ``presence_penalty``, ``frequency_penalty`` and
  ``stop`` with an error. We refuse them first, with a typed
  :class:`~ai_core.errors.RequestValidationError` that names the fields: the
  call would fail anyway, and dropping a stop sequence silently would change
  the answer the caller gets.
- Live Search (``search_parameters``) is retired and answers 410 Gone; it is
  refused the same way, pointing at its replacement.
- ``max_tokens`` is deprecated: ``max_completion_tokens`` is sent instead.
- ``reasoning_content`` on messages and deltas is kept as reasoning.
- ``completion_tokens`` does not include ``reasoning_tokens``: they are
  reported on top, and added to the output count here.
- ``reasoning_effort``: ``none|low|medium|high``. grok-3-mini is documented
  as ``low|high``, but the API answers ``medium`` too (serving it as
  grok-3-mini-high), so it takes ``low|medium|high``. Refused before sending:
  ``none`` on grok-3-mini (neither documented nor seen there) and the efforts
  no xAI model takes (``minimal``, ``xhigh``, ``max``).
- A bad key is a 400 "Incorrect API key provided", and a context overflow a
  400 "maximum prompt length is N ..." with no code: the driver types them by
  their message (``AuthenticationError``, ``ContextLengthExceededError``).
- No ``developer`` role: instructions stay ``system`` messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ai_core.dialects.openai_chat.profile import ChatProfile

if TYPE_CHECKING:
    from ai_core.types import ChatRequest

__all__ = ["XAI_PROFILE", "is_chat_model", "is_reasoning_model"]

_EFFORTS = frozenset({"none", "low", "medium", "high"})
_MINI_EFFORTS = frozenset({"low", "medium", "high"})  # "medium" is served as grok-3-mini-high


def is_reasoning_model(model: str) -> bool:
    """Grok 4 and later, grok-3-mini and grok-code reason; grok-2, grok-3 and the
    ``-non-reasoning`` variants do not."""
    name = model.lower()
    if "non-reasoning" in name or not name.startswith("grok"):
        return False
    if name.startswith(("grok-2", "grok-beta", "grok-vision")):
        return False
    return not (name.startswith("grok-3") and not name.startswith("grok-3-mini"))


def is_chat_model(model: str) -> bool:
    """``GET /models`` also lists image and video models, which chat cannot use."""
    name = model.lower()
    return name.startswith("grok") and not any(marker in name for marker in ("image", "imagine", "video", "voice"))


def _check_effort(request: ChatRequest, body: dict[str, Any], reasoning: bool) -> None:
    from ai_core.errors import RequestValidationError

    effort = body.get("reasoning_effort")
    if effort is None:
        return
    allowed = _MINI_EFFORTS if request.model.lower().startswith("grok-3-mini") else _EFFORTS
    if effort not in allowed:
        raise RequestValidationError(
            f"xai model {request.model!r} accepts reasoning_effort {'|'.join(sorted(allowed))}, not {effort!r}",
            [{"loc": ["reasoning_effort"], "msg": f"one of {sorted(allowed)}"}],
        )


XAI_PROFILE = ChatProfile(
    name="xai",
    reasoning_model=is_reasoning_model,
    max_tokens_param="max_completion_tokens",
    reasoning_max_tokens_param="max_completion_tokens",
    developer_role="never",
    reasoning_in_completion=False,
    reasoning_keys=("reasoning_content",),
    reasoning_rejects=frozenset({"presence_penalty", "frequency_penalty", "stop"}),
    forbidden_options={
        "search_parameters": "Live Search is retired (the API answers 410 Gone); "
        "use the Agent Tools API (web_search / x_search tools on /v1/responses)",
    },
    list_model_filter=is_chat_model,
    check_request=_check_effort,
)
