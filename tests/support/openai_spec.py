"""Validate traffic against OpenAI's published OpenAPI document.

The document (../shared/specs/openai-openapi.yaml, 3 MB) is read from the
shared specs folder, never copied into the repository, and parsed once per
test session. As that folder's README says, it still uses OpenAPI 3.0's
``nullable: true`` in places, which a JSON Schema 2020-12 validator ignores;
every such node is rewritten to also accept ``null`` before validating.

xAI traffic is checked against the same schemas after removing the fields
xAI adds (README, "xAI"): ``reasoning_content``, ``cost_in_usd_ticks``,
``num_sources_used``, and giving chunks that omit ``finish_reason`` a null one.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "SPEC_PATH",
    "assert_valid",
    "normalize_xai",
    "request_property_names",
    "schema_errors",
    "validate_chat_request",
]


def _find_spec() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        for candidate in (parent / "shared" / "specs", parent.parent / "shared" / "specs"):
            if (candidate / "openai-openapi.yaml").is_file():
                return candidate / "openai-openapi.yaml"
    raise FileNotFoundError("openai-openapi.yaml not found in ../shared/specs next to the repository")


SPEC_PATH = _find_spec()


def _allow_null(node: Any) -> Any:
    """Rewrite every ``nullable: true`` node as ``anyOf: [node, null]`` (recursively)."""
    if isinstance(node, list):
        return [_allow_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _allow_null(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def components() -> dict[str, Any]:
    """The spec's ``components`` with nullable rewritten; parsed once per session."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        document = yaml.load(handle, Loader=loader)
    return _allow_null(document["components"])


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    comps = components()
    if name not in comps["schemas"]:
        raise KeyError(f"no schema {name!r} in {SPEC_PATH.name}")
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": comps})


def schema_errors(instance: Any, name: str) -> list[str]:
    """Every violation of schema ``name``, as readable lines (empty when valid)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:300]}"
        for error in _validator(name).iter_errors(instance)
    ]


def assert_valid(instance: Any, name: str) -> None:
    problems = schema_errors(instance, name)
    assert not problems, f"not a valid {name}:\n" + "\n".join(problems)


def _properties(name: str) -> set[str]:
    schema = components()["schemas"][name]
    names: set[str] = set()
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            names |= _properties(part["$ref"].rsplit("/", 1)[-1])
        names |= set(part.get("properties", {}))
    return names


@functools.cache
def request_property_names() -> frozenset[str]:
    """Every top-level field ``CreateChatCompletionRequest`` defines."""
    return frozenset(_properties("CreateChatCompletionRequest"))


_MESSAGE_SCHEMAS = {
    "developer": "ChatCompletionRequestDeveloperMessage",
    "system": "ChatCompletionRequestSystemMessage",
    "user": "ChatCompletionRequestUserMessage",
    "assistant": "ChatCompletionRequestAssistantMessage",
    "tool": "ChatCompletionRequestToolMessage",
}


def validate_chat_request(body: dict[str, Any], *, allow_extra: frozenset[str] = frozenset()) -> list[str]:
    """Schema errors of a request body, plus any field the spec does not define.

    The schema leaves ``additionalProperties`` open, so a misspelt field would
    pass it; here the top level and each message must use only names the spec
    defines (or ``allow_extra``, for fields a test passes through on purpose).
    """
    problems = schema_errors(body, "CreateChatCompletionRequest")
    unknown = set(body) - request_property_names() - allow_extra
    problems += [f"<root>: field {name!r} is not in CreateChatCompletionRequest" for name in sorted(unknown)]
    for index, message in enumerate(body.get("messages") or []):
        schema = _MESSAGE_SCHEMAS.get(message.get("role")) if isinstance(message, dict) else None
        if schema is None:
            continue
        extra = set(message) - _properties(schema)
        problems += [f"messages/{index}: field {name!r} is not in {schema}" for name in sorted(extra)]
    return problems


_XAI_USAGE_EXTRAS = ("cost_in_usd_ticks", "num_sources_used")


def normalize_xai(payload: dict[str, Any], kind: str) -> dict[str, Any]:
    """An xAI response or chunk minus xAI's known additions, for OpenAI's schemas."""
    payload = copy.deepcopy(payload)
    usage = payload.get("usage")
    if isinstance(usage, dict):
        for key in _XAI_USAGE_EXTRAS:
            usage.pop(key, None)
    for choice in payload.get("choices") or []:
        for key in ("message", "delta"):
            if isinstance(choice.get(key), dict):
                choice[key].pop("reasoning_content", None)
        if kind == "chunk":
            choice.setdefault("finish_reason", None)
    return payload


_RESPONSE_SCHEMAS = {
    "response": "CreateChatCompletionResponse",
    "chunk": "CreateChatCompletionStreamResponse",
    "error": "ErrorResponse",
    "models": "ListModelsResponse",
}


def sent_payload_errors(sent: list[tuple[str, dict[str, Any]]], *, flavor: str = "openai") -> list[str]:
    """Schema errors of everything a test server sent (bodies, chunks, errors, model lists)."""
    problems: list[str] = []
    for kind, payload in sent:
        if flavor == "xai":
            payload = normalize_xai(payload, kind)
        problems += [f"{kind}: {line}" for line in schema_errors(payload, _RESPONSE_SCHEMAS[kind])]
    return problems
