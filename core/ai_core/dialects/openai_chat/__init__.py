"""The OpenAI Chat Completions dialect, shared by every compatible provider.

- :mod:`.profile`: :class:`ChatProfile`, one provider's quirks as data.
- :mod:`.wire`: pure translation (request body, response, stream chunks, usage, errors),
  re-exported from :mod:`.request_body`, :mod:`.response`, :mod:`.chunks` and :mod:`.error_payload`.
- :mod:`.driver`: :class:`OpenAIChatDriver`, the HTTP side (send, stream, models).

A compatible provider plugin registers a ``ProviderSpec`` whose driver is
``"ai_core.dialects.openai_chat:OpenAIChatDriver"`` (generic quirks) or a
subclass setting ``profile`` and ``default_base_url``. Only the profile is
imported eagerly here; the driver (and with it the HTTP stack) loads on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ai_core.dialects.openai_chat.profile import COMPATIBLE, ChatProfile, RequestCheck

if TYPE_CHECKING:
    from ai_core.dialects.openai_chat.driver import OpenAIChatDriver

__all__ = ["COMPATIBLE", "ChatProfile", "OpenAIChatDriver", "RequestCheck"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIChatDriver":
        from ai_core.dialects.openai_chat.driver import OpenAIChatDriver

        return OpenAIChatDriver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
