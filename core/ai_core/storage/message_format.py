"""The stored message format, versioned so old rows are never misread.

Every row in ``ai_messages`` carries ``format_version``. Reading a row upgrades
its ``parts`` step by step to :data:`CURRENT_FORMAT` with the functions in
:data:`UPGRADES`; a version newer than this code knows is refused with a
clear error (a downgrade must never reinterpret data silently).

Version history:

* 0: a bare string of text (early prototypes kept only ``content`` text).
* 1: ``Message.model_dump(mode="json")["parts"]``: a list of typed parts
  (``text``, ``reasoning``, ``image`` with base64 bytes, ``tool_call``,
  ``tool_result``).

To change the format: add version N+1, an upgrade from N, and an Alembic
revision that calls :func:`upgrade_stored_parts` over old rows if rewriting
them is worth it (reading already works without that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ai_core.errors import StorageError
from ai_core.types import Message

__all__ = [
    "CURRENT_FORMAT",
    "UPGRADES",
    "StoredFormatError",
    "decode_message",
    "encode_message",
    "upgrade_stored_parts",
]

CURRENT_FORMAT = 1


class StoredFormatError(StorageError):
    """A stored message is in a format this version of ai-core cannot read, or is damaged."""


def _v0_to_v1(content: Any) -> Any:
    if not isinstance(content, str):
        raise StoredFormatError(f"format 0 stores text, found {type(content).__name__}")
    return [{"type": "text", "text": content}]


UPGRADES: dict[int, Callable[[Any], Any]] = {0: _v0_to_v1}
"""``UPGRADES[n]`` turns format ``n`` into format ``n + 1``."""


def encode_message(message: Message) -> tuple[int, list[dict[str, Any]]]:
    """The current format version and the JSON-ready parts of ``message``."""
    return CURRENT_FORMAT, message.model_dump(mode="json")["parts"]


def upgrade_stored_parts(version: int, parts: Any) -> Any:
    """``parts`` stored in ``version``, brought to :data:`CURRENT_FORMAT`."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoredFormatError(f"a stored message has no valid format version ({version!r}): the row is damaged")
    if version > CURRENT_FORMAT:
        raise StoredFormatError(
            f"stored message format {version} is newer than this ai-core understands "
            f"({CURRENT_FORMAT}); upgrade ai-core"
        )
    if version < 0:
        raise StoredFormatError(f"invalid stored message format {version}")
    while version < CURRENT_FORMAT:
        parts = UPGRADES[version](parts)
        version += 1
    return parts


def decode_message(role: str, name: str | None, version: int, parts: Any) -> Message:
    """Rebuild a :class:`Message` from a stored row, upgrading old formats."""
    current = upgrade_stored_parts(version, parts)
    try:
        return Message.model_validate({"role": role, "parts": current, "name": name})
    except ValueError as exc:
        raise StoredFormatError(
            f"a stored {role} message (format {version}) is not valid ({_first_problem(exc)}): "
            "it was changed outside ai-core; restore it from a backup or delete that message"
        ) from exc


def _first_problem(exc: ValueError) -> str:
    """Pydantic's first error on one line (its full text spans many)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            first = found[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            more = f", and {len(found) - 1} more" if len(found) > 1 else ""
            return f"{where}: {first.get('msg', 'invalid')}{more}" if where else f"{first.get('msg')}{more}"
    return " ".join(str(exc).split())[:200]
