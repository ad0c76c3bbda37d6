"""MCP prompts and resources attached to a request (the design's "MCP-enhanced request").

``.mcp_prompt(server, name, args)`` asks the server for the prompt and queues
its messages; ``.mcp_resource(server, uri)`` reads the resource and queues it
as a user message. Both are resolved when the turn is sent, in the order they
were added among the ``.user()`` messages, so the provider sees the request as
the server shaped it, and the stored conversation keeps what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ai_core import errors
from ai_core.types import ImagePart, Message, TextPart

if TYPE_CHECKING:
    from ai_core.mcp.pool import MCPPool

__all__ = ["MCPAttachment", "resolve_attachments"]


@dataclass(frozen=True)
class MCPAttachment:
    """A placeholder in the builder's queue until the turn is sent."""

    server: str
    prompt: str | None = None
    arguments: dict[str, str] = field(default_factory=dict)
    uri: str | None = None


async def resolve_attachments(pool: MCPPool, queue: list[Any]) -> list[Message]:
    """``queue`` with every :class:`MCPAttachment` replaced by its messages."""
    resolved: list[Message] = []
    for item in queue:
        if not isinstance(item, MCPAttachment):
            resolved.append(item)
            continue
        server = await pool.get(item.server)
        if item.prompt is not None:
            result = await server.get_prompt(item.prompt, item.arguments or None)
            resolved.extend(_prompt_messages(item, result))
        else:
            assert item.uri is not None
            result = await server.read_resource(item.uri)
            resolved.append(_resource_message(item, result))
    return resolved


def _prompt_messages(item: MCPAttachment, result: Any) -> list[Message]:
    if isinstance(result, list) and all(isinstance(m, Message) for m in result):
        return list(result)  # an in-process protocol server may answer with core's messages
    messages: list[Message] = []
    for prompt_message in getattr(result, "messages", None) or []:
        parts = _parts(prompt_message.content)
        role = "assistant" if prompt_message.role == "assistant" else "user"
        if role == "assistant":
            parts = [p for p in parts if isinstance(p, TextPart)] or [TextPart(text="")]
        messages.append(Message(role=role, parts=parts))
    if not messages:
        raise errors.MCPProtocolError(
            f"MCP server {item.server!r} answered prompt {item.prompt!r} with no messages", server=item.server
        )
    return messages


def _resource_message(item: MCPAttachment, result: Any) -> Message:
    if isinstance(result, str):
        return Message.user(f"Resource {item.uri}:\n{result}")
    texts: list[str] = []
    for content in getattr(result, "contents", None) or []:
        text = getattr(content, "text", None)
        if text is not None:
            texts.append(text)
        else:
            mime = getattr(content, "mime_type", None) or "binary"
            texts.append(f"[{mime} content, {len(getattr(content, 'blob', '') or '')} base64 characters]")
    if not texts:
        raise errors.MCPProtocolError(
            f"MCP server {item.server!r} answered resource {item.uri!r} with no contents", server=item.server
        )
    return Message.user(f"Resource {item.uri}:\n" + "\n".join(texts))


def _parts(content: Any) -> list[Any]:
    kind = getattr(content, "type", None)
    if kind == "text":
        return [TextPart(text=content.text)]
    if kind == "image":
        return [ImagePart(url=f"data:{content.mime_type};base64,{content.data}")]
    if kind == "resource":
        resource = content.resource
        text = getattr(resource, "text", None)
        return [
            TextPart(text=f"Resource {resource.uri}:\n{text}" if text is not None else f"[resource {resource.uri}]")
        ]
    return [TextPart(text=f"[{kind} content]")]
