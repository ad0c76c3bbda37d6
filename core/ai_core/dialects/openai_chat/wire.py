"""Pure translation between ai-core types and the Chat Completions wire format.

No I/O here: the driver moves bytes, this package turns a
:class:`~ai_core.types.ChatRequest` into a request body and turns response
JSON (whole, or one stream chunk at a time) back into ai-core types. Sending
and streaming share every function, and both end through one
:class:`~ai_core.drivers.streaming.StreamAccumulator`, so a streamed call and
an unstreamed one produce the same :class:`~ai_core.types.ChatResponse`.

Whatever the server sends, parsing ends in an ai-core type or a
:class:`~ai_core.errors.ProviderError` subclass: never a ``KeyError``.

This module is the one name callers import (``wire.build_body(...)``); the
code lives in one module per job:

- :mod:`.request_body`: the request body and its messages;
- :mod:`.response`: a whole response, its usage, the model list;
- :mod:`.chunks`: :class:`ChunkReader`, for streams;
- :mod:`.error_payload`: the typed error for an ``{"error": ...}`` object;
- :mod:`._coerce`: the small checked accessors the parsers share.
"""

from __future__ import annotations

from ai_core.dialects.openai_chat.chunks import ChunkReader
from ai_core.dialects.openai_chat.error_payload import error_from_payload
from ai_core.dialects.openai_chat.request_body import build_body, message_to_wire
from ai_core.dialects.openai_chat.request_body import messages_to_wire as messages_to_wire  # public, not in __all__
from ai_core.dialects.openai_chat.response import parse_model_list, parse_response, parse_usage

__all__ = [
    "ChunkReader",
    "build_body",
    "error_from_payload",
    "message_to_wire",
    "parse_model_list",
    "parse_response",
    "parse_usage",
]
