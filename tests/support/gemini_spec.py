"""Validate Gemini traffic against Google's discovery document for the Generative Language API v1beta.

The document (../shared/specs/gemini-generativelanguage-v1beta.discovery.json) is read
from the shared specs folder, never copied into the repository, and turned once per
test session into JSON Schema (draft 2020-12): each discovery schema becomes a
definition, ``$ref`` names point at it, ``type: any`` accepts anything, ``int64``
values may be strings of digits (as proto JSON writes them), ``additionalProperties``
maps stay maps, and enums stay enums.

Request bodies are checked strictly: a field the document does not name is an error
(a misspelt ``systemInstruction`` would otherwise be silently ignored by Google).
Response payloads of the local server are checked the same way, so the double speaks
what the document says.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

__all__ = ["SPEC_PATH", "discovery", "payload_errors", "request_errors", "schema_for", "sent_payload_errors"]


def _find_spec() -> Path:
    name = "gemini-generativelanguage-v1beta.discovery.json"
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "shared" / "specs", parent.parent / "shared" / "specs"):
            if (candidate / name).is_file():
                return candidate / name
    raise FileNotFoundError(f"{name} not found in ../shared/specs next to the repository")


SPEC_PATH = _find_spec()


@functools.cache
def discovery() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return document


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    """One discovery type node as JSON Schema."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if not isinstance(kind, str) or kind == "any":
        return {}
    out: dict[str, Any]
    if kind == "object":
        out = {"type": "object"}
        if "properties" in node:
            out["properties"] = {name: _convert(value) for name, value in node["properties"].items()}
            out["additionalProperties"] = False
        if "additionalProperties" in node:
            out["additionalProperties"] = _convert(node["additionalProperties"])
    elif kind == "array":
        out = {"type": "array", "items": _convert(node.get("items") or {})}
    elif kind == "integer":
        out = {"type": "integer"}
    elif kind == "number":
        out = {"type": "number"}
    elif kind == "boolean":
        out = {"type": "boolean"}
    elif kind == "string":
        if node.get("format") in ("int64", "uint64"):
            out = {"anyOf": [{"type": "string", "pattern": r"^-?\d+$"}, {"type": "integer"}]}
        else:
            out = {"type": "string"}
        if "enum" in node:
            out = {"enum": list(node["enum"])}
    else:
        out = {}
    return out


@functools.cache
def _definitions() -> dict[str, Any]:
    return {name: _convert(schema) for name, schema in discovery()["schemas"].items()}


@functools.cache
def schema_for(name: str) -> dict[str, Any]:
    """The JSON Schema of discovery schema ``name`` (``GenerateContentRequest``, ...)."""
    if name not in discovery()["schemas"]:
        raise KeyError(f"no schema {name!r} in {SPEC_PATH.name}")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": _definitions(),
            "$ref": f"#/$defs/{name}"}  # fmt: skip


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema_for(name))


def payload_errors(payload: Any, name: str) -> list[str]:
    """Every way ``payload`` breaks schema ``name``, one line each (empty when valid)."""
    found = sorted(_validator(name).iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [f"{name} at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in found]


def request_errors(method: str, body: Any) -> list[str]:
    """A request body checked against the request schema of ``models.<method>`` in the document."""
    request = discovery()["resources"]["models"]["methods"][method].get("request")
    if request is None:
        return [] if body is None else [f"{method} takes no body"]
    return payload_errors(body, request["$ref"])


def sent_payload_errors(sent: list[tuple[str, Any]]) -> list[str]:
    """The local server's payloads (``(schema name, payload)``), errors checked as Google's error body."""
    problems: list[str] = []
    for index, (kind, payload) in enumerate(sent):
        if kind == "error":
            error = payload.get("error") if isinstance(payload, dict) else None
            ok = isinstance(error, dict) and {"code", "message", "status"} <= set(error)
            problems += [] if ok else [f"payload {index}: not Google's error body: {payload!r:.200}"]
        else:
            problems += [f"payload {index}: {p}" for p in payload_errors(payload, kind)]
    return problems
