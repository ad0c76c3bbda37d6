"""xAI's driver: the shared Chat Completions driver with xAI's profile.

Imported only when an ``xai/...`` model is first used, since it loads the HTTP stack.
"""

from __future__ import annotations

from ai_core.dialects.openai_chat.driver import OpenAIChatDriver
from ai_xai.profile import XAI_PROFILE

__all__ = ["DEFAULT_BASE_URL", "XAIDriver"]

DEFAULT_BASE_URL = "https://api.x.ai/v1"


class XAIDriver(OpenAIChatDriver):
    """xAI Chat Completions (Grok)."""

    profile = XAI_PROFILE
    default_base_url = DEFAULT_BASE_URL
