"""Validate request bodies against Ollama's published OpenAPI document.

The document (../shared/specs/ollama-openapi.yaml) is read from the shared
specs folder and parsed once per session. Its schemas leave
``additionalProperties`` open, so a misspelt field would pass; this module is
stricter: every field the driver sends must be one the documents name
(ollama-openapi.yaml, or ollama-api.md and the tool-calling page for
``tool_name``, ``thinking`` and a tool call's ``index``), or one of the two
ids in :data:`UNDOCUMENTED`, which the driver sends on purpose.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["SPEC_PATH", "UNDOCUMENTED", "request_errors"]


def _find_spec() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "shared" / "specs", parent.parent / "shared" / "specs"):
            if (candidate / "ollama-openapi.yaml").is_file():
                return candidate / "ollama-openapi.yaml"
    raise FileNotFoundError("ollama-openapi.yaml not found in ../shared/specs next to the repository")


SPEC_PATH = _find_spec()

# Fields named by ollama-api.md / ollama-docs-capabilities-*.mdx but missing from the OpenAPI schemas.
_DOCUMENTED_MESSAGE = {"tool_name", "thinking"}
_DOCUMENTED_FUNCTION = {"index"}
UNDOCUMENTED = {"message": {"tool_call_id"}, "tool_call": {"id"}}
"""Core's tool call ids, which servers that know them use and older ones ignore (docs/ollama.md)."""

_SCHEMAS = {"/api/chat": "ChatRequest", "/api/show": "ShowRequest", "/api/pull": "PullRequest"}


@functools.cache
def components() -> dict[str, Any]:
    with SPEC_PATH.open("rb") as handle:
        document = yaml.safe_load(handle)
    return document["components"]  # type: ignore[no-any-return]


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    comps = components()
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": comps})


def _properties(name: str) -> set[str]:
    return set(components()["schemas"][name].get("properties", {}))


def request_errors(path: str, body: Any) -> list[str]:
    """Every way ``body`` (sent to ``path``) breaks the documents, as readable lines."""
    name = _SCHEMAS.get(path)
    if name is None:
        return [] if body is None else [f"{path}: a body where the API takes none"]
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
        for e in _validator(name).iter_errors(body)
    ]
    if not isinstance(body, dict):
        return problems or ["<root>: not an object"]
    problems += [f"<root>: undocumented field {key!r}" for key in set(body) - _properties(name)]
    if name != "ChatRequest":
        return problems
    message_fields = _properties("ChatMessage") | _DOCUMENTED_MESSAGE | UNDOCUMENTED["message"]
    call_fields = _properties("ToolCall") | UNDOCUMENTED["tool_call"]
    function_fields = set(components()["schemas"]["ToolCall"]["properties"]["function"]["properties"])
    for index, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            continue
        problems += [f"messages/{index}: undocumented field {key!r}" for key in set(message) - message_fields]
        if message.get("role") == "tool" and "tool_name" not in message:
            problems.append(f"messages/{index}: a tool result without tool_name")
        for n, call in enumerate(message.get("tool_calls") or []):
            problems += [f"messages/{index}/tool_calls/{n}: undocumented field {k!r}" for k in set(call) - call_fields]
            extra = set(call.get("function") or {}) - function_fields - _DOCUMENTED_FUNCTION
            problems += [f"messages/{index}/tool_calls/{n}/function: undocumented field {k!r}" for k in extra]
    return problems
