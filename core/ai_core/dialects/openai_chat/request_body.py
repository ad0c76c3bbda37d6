"""The request side: a :class:`~ai_core.types.ChatRequest` as a ``POST /chat/completions`` body.

Pure translation, no I/O. The profile decides the per-provider quirks (which
role carries instructions, which token-limit field, which options are refused),
and every refusal is a :class:`~ai_core.errors.RequestValidationError` raised
before anything is sent.
"""

from __future__ import annotations

import json
from typing import Any

from ai_core import errors
from ai_core.dialects.openai_chat.profile import ChatProfile
from ai_core.types import ChatRequest, ImagePart, Message, ReasoningPart, TextPart, ToolCallPart, ToolResultPart

__all__ = ["build_body", "message_to_wire", "messages_to_wire"]


def build_body(request: ChatRequest, profile: ChatProfile, *, stream: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    ``provider_options`` are merged in last and untouched, so a caller can use
    any field the server knows; only the profile's forbidden fields are refused.
    Streaming always asks for the final usage chunk, whatever the options say.
    """
    reasoning = profile.is_reasoning(request.model)
    body: dict[str, Any] = {"model": request.model, "messages": messages_to_wire(request, profile, reasoning)}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body[profile.reasoning_max_tokens_param if reasoning else profile.max_tokens_param] = request.max_tokens
    if request.stop:
        limit = profile.max_stop_sequences
        if limit is not None and len(request.stop) > limit:
            raise errors.RequestValidationError(
                f"{profile.name} accepts at most {limit} stop sequences, got {len(request.stop)}",
                [{"loc": ["stop"], "msg": f"at most {limit} items"}],
            )
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.user is not None:
        body["user"] = request.user
    if request.tools:
        body["tools"] = [_tool_to_wire(tool) for tool in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            choice if choice in ("auto", "none", "required") else {"type": "function", "function": {"name": choice}}
        )
    if request.response_format is not None:
        fmt = request.response_format
        if fmt.type == "json_object":
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": fmt.json_schema, "strict": fmt.strict},
            }
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if request.provider_options:
        body.update(request.provider_options)

    for key, why in profile.forbidden_options.items():
        if key in body:
            raise errors.RequestValidationError(
                f"{profile.name} does not accept {key!r}: {why}", [{"loc": [key], "msg": why}]
            )
    if reasoning and profile.reasoning_rejects:
        rejected = sorted(key for key in profile.reasoning_rejects if body.get(key) is not None)
        if rejected:
            raise errors.RequestValidationError(
                f"{profile.name} reasoning model {request.model!r} rejects {', '.join(rejected)}; "
                "remove them or use a non-reasoning model",
                [{"loc": [key], "msg": "not accepted by reasoning models"} for key in rejected],
            )
    if profile.check_request is not None:
        profile.check_request(request, body, reasoning)

    if stream:
        options = body.get("stream_options")
        body["stream"] = True
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    else:
        body.pop("stream", None)
        body.pop("stream_options", None)
    return body


def _tool_to_wire(tool: Any) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def messages_to_wire(request: ChatRequest, profile: ChatProfile, reasoning: bool) -> list[dict[str, Any]]:
    """The ``messages`` array: the system prompt first, then the history."""
    use_developer = profile.developer_role == "always" or (profile.developer_role == "reasoning" and reasoning)
    instructions_role = "developer" if use_developer else "system"
    developer_role = "system" if profile.developer_role == "never" else "developer"
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": instructions_role, "content": request.system})
    for message in request.messages:
        out.extend(message_to_wire(message, instructions_role=instructions_role, developer_role=developer_role))
    return out


def message_to_wire(
    message: Message, *, instructions_role: str = "system", developer_role: str = "developer"
) -> list[dict[str, Any]]:
    """One ai-core message as one or more wire messages.

    Tool results become one ``tool`` message each, since the wire format has
    one result per message; reasoning the model returned earlier is not sent
    back (Chat Completions has no field for it).
    """
    role = message.role
    results = [p for p in message.parts if isinstance(p, ToolResultPart)]
    out = [{"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content} for r in results]
    others = [p for p in message.parts if not isinstance(p, ToolResultPart | ReasoningPart)]
    if role == "tool" or not others:
        if others:
            raise _invalid(message, "a tool message carries tool results only")
        return out

    wire: dict[str, Any]
    if role in ("system", "developer"):
        if any(not isinstance(p, TextPart) for p in others):
            raise _invalid(message, f"a {role} message carries text only")
        wire = {
            "role": instructions_role if role == "system" else developer_role,
            "content": "".join(p.text for p in others),  # type: ignore[union-attr]
        }
    elif role == "user":
        if any(isinstance(p, ToolCallPart) for p in others):
            raise _invalid(message, "a user message cannot carry tool calls")
        if len(others) == 1 and isinstance(others[0], TextPart):
            content: Any = others[0].text
        else:
            content = [_user_part(p) for p in others]
        wire = {"role": "user", "content": content}
    else:  # assistant
        if any(isinstance(p, ImagePart) for p in others):
            raise _invalid(message, "an assistant message cannot carry images")
        text = "".join(p.text for p in others if isinstance(p, TextPart))
        calls = [p for p in others if isinstance(p, ToolCallPart)]
        wire = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments, separators=(",", ":"))},
                }
                for call in calls
            ]
    if message.name:
        wire["name"] = message.name
    out.append(wire)
    return out


def _user_part(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"url": part.data_url()}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _invalid(message: Message, why: str) -> errors.RequestValidationError:
    return errors.RequestValidationError(why, [{"loc": ["messages", message.role], "msg": why}])
