"""OpenAI's quirks within its own Chat Completions dialect.

Imports nothing but the dialect's profile type, so the plugin module can name
it without loading any HTTP code.
"""

from __future__ import annotations

from ai_core.dialects.openai_chat.profile import ChatProfile

__all__ = ["OPENAI_PROFILE", "is_chat_model", "is_reasoning_model"]

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_NOT_CHAT = (
    "embedding",
    "tts",
    "whisper",
    "dall-e",
    "transcribe",
    "realtime",
    "audio",
    "image",
    "moderation",
    "sora",
    "davinci",
    "babbage",
    "search",
    "computer-use",
    "codex",
)


def _base(model: str) -> str:
    """``ft:o4-mini:org::id`` -> ``o4-mini``: a fine-tune behaves like its base model."""
    return model.split(":", 2)[1] if model.startswith("ft:") else model


def is_reasoning_model(model: str) -> bool:
    """o-series and gpt-5 models reason (take ``max_completion_tokens``, ``developer`` and
    ``reasoning_effort``); the ``-chat`` variants of gpt-5 do not."""
    base = _base(model)
    return base.startswith(_REASONING_PREFIXES) and "-chat" not in base


def is_chat_model(model: str) -> bool:
    """Which ``GET /models`` entries Chat Completions can serve (it also lists TTS, embeddings...)."""
    base = _base(model)
    if any(marker in base for marker in _NOT_CHAT):
        return False
    return base.startswith(("gpt-", "chatgpt-", *_REASONING_PREFIXES))


OPENAI_PROFILE = ChatProfile(
    name="openai",
    reasoning_model=is_reasoning_model,
    # max_tokens is deprecated and refused by reasoning models; the new field works for every model.
    max_tokens_param="max_completion_tokens",
    reasoning_max_tokens_param="max_completion_tokens",
    developer_role="reasoning",
    reasoning_in_completion=True,
    max_stop_sequences=4,
    list_model_filter=is_chat_model,
)
