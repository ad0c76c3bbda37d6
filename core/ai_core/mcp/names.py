"""The names a model sees for MCP tools: ``<server>__<tool>``.

Two servers may both have a ``search``; the model must see two names, and the
name must fit every provider's rule (OpenAI and others: ``^[a-zA-Z0-9_-]{1,64}$``).
A name that is already clean and short stays readable (``everything__echo``).
Anything else (characters outside the rule, a server name containing ``__``, or
more than 64 characters) is cleaned, cut, and suffixed with 8 hex digits of a
hash of the exact pair, so the name is still unique and the same in every
process (a stored conversation resumed elsewhere maps its calls back).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_TOOL_NAME", "SEPARATOR", "namespaced"]

SEPARATOR = "__"
MAX_TOOL_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def namespaced(server: str, tool: str) -> str:
    """The model-facing name of ``tool`` on ``server``."""
    plain = f"{server}{SEPARATOR}{tool}"
    clean = _UNSAFE.sub("_", plain)
    if clean == plain and SEPARATOR not in server and len(plain) <= MAX_TOOL_NAME and tool:
        return plain
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{clean[: MAX_TOOL_NAME - 9]}_{digest}"
