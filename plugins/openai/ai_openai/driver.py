"""OpenAI's driver: the shared Chat Completions driver with OpenAI's profile.

Imported only when an ``openai/...`` model is first used (the plugin names it
as a string), since it loads the HTTP stack.
"""

from __future__ import annotations

from ai_core.dialects.openai_chat.driver import OpenAIChatDriver
from ai_openai.profile import OPENAI_PROFILE

__all__ = ["DEFAULT_BASE_URL", "OpenAIDriver"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIDriver(OpenAIChatDriver):
    """OpenAI Chat Completions. ``config.options`` may name an ``organization`` and a ``project``."""

    profile = OPENAI_PROFILE
    default_base_url = DEFAULT_BASE_URL

    def auth_headers(self) -> dict[str, str]:
        headers = super().auth_headers()
        organization = self.config.options.get("organization")
        project = self.config.options.get("project")
        if organization:
            headers["OpenAI-Organization"] = str(organization)
        if project:
            headers["OpenAI-Project"] = str(project)
        return headers
