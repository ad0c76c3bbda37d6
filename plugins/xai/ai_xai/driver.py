"""xAI's driver: the shared Chat Completions driver with xAI's profile.

Imported only when an ``xai/...`` model is first used (the plugin names it
as a string), since it loads the HTTP stack.
"""

from __future__ import annotations

from typing import Any

from ai_core import errors
from ai_core.dialects.openai_chat.driver import OpenAIChatDriver
from ai_core.dialects.openai_chat.error_payload import named_by_message
from ai_xai.profile import XAI_PROFILE

__all__ = ["DEFAULT_BASE_URL", "XAIDriver"]

DEFAULT_BASE_URL = "https://api.x.ai/v1"


class XAIDriver(OpenAIChatDriver):
    """xAI Chat Completions (Grok). A bare 400 is typed by what its message says."""

    profile = XAI_PROFILE
    default_base_url = DEFAULT_BASE_URL

    def error_from_response(self, status: int, body: bytes, headers: Any) -> errors.ProviderError:
        # xAI answers a bad key with 400 (not 401) and a context overflow with a 400
        # and no code; only the message tells them from other bad requests.
        return named_by_message(super().error_from_response(status, body, headers))
