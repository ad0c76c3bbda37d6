"""Provider-neutral messages made of typed parts.

A message is a role plus an ordered list of parts, so one assistant turn can hold
text, reasoning and several tool calls, and one user turn text and images. The
``type`` field discriminates parts in JSON, which is also the stored format.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from ai_core.types.construct import constructed

__all__ = [
    "ImagePart",
    "Message",
    "Part",
    "ReasoningPart",
    "Role",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]


def clean_text(value: str) -> str:
    """``value`` with NUL and lone surrogates replaced by U+FFFD.

    Neither can be stored (PostgreSQL rejects NUL in text and JSON; a lone
    surrogate is not UTF-8 and breaks every later request that carries it), so
    they are replaced where text enters a message: what is kept in memory, sent
    and stored is then the same. Valid text is returned as it is, at the cost
    of one scan.
    """
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # surrogatepass keeps well-formed pairs (they decode to their character);
        # only lone halves become U+FFFD.
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _text_part(text: str) -> TextPart:
    """``TextPart(text=text)``: a plain ``str`` needs only :func:`clean_text`, anything
    else goes through validation (which names what is wrong with it)."""
    if type(text) is not str:
        return TextPart(text=text)
    return constructed(TextPart, {"type": "text", "text": clean_text(text)}, {"text"})


class TextPart(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


class ReasoningPart(BaseModel):
    """Reasoning text a model returned (e.g. xAI ``reasoning_content``)."""

    model_config = ConfigDict(frozen=True)
    type: Literal["reasoning"] = "reasoning"
    text: str
    signature: str | None = None

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


class ImagePart(BaseModel):
    """An image by URL or by bytes; bytes travel as base64 in JSON."""

    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        if isinstance(value, str):
            return base64.b64decode(value, validate=True)
        return value

    @field_serializer("data", when_used="json")
    def _encode(self, value: bytes | None) -> str | None:
        return None if value is None else base64.b64encode(value).decode("ascii")

    @model_validator(mode="after")
    def _one_source(self) -> ImagePart:
        if (self.url is None) == (self.data is None):
            raise ValueError("an image needs exactly one of url or data")
        if self.data is not None and not self.media_type:
            raise ValueError("an image given as bytes needs a media_type such as 'image/png'")
        return self

    def data_url(self) -> str:
        """The image as a URL a provider accepts (``data:`` URL for bytes)."""
        if self.url is not None:
            return self.url
        assert self.data is not None
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


class ToolCallPart(BaseModel):
    """The model asks for a tool to run; ``arguments`` is already parsed JSON."""

    model_config = ConfigDict(frozen=True)
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResultPart(BaseModel):
    """What a tool returned, answering the call with the same id."""

    model_config = ConfigDict(frozen=True)
    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: str
    name: str | None = None
    is_error: bool = False

    @field_validator("content")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


Part = Annotated[
    TextPart | ReasoningPart | ImagePart | ToolCallPart | ToolResultPart,
    Field(discriminator="type"),
]


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(frozen=True)

    role: Role
    parts: list[Part] = Field(min_length=1)
    name: str | None = None

    @classmethod
    def system(cls, text: str) -> Message:
        return cls._of_valid_part("system", _text_part(text))

    @classmethod
    def user(cls, text: str, *, images: list[ImagePart] | None = None) -> Message:
        if not images:
            return cls._of_valid_part("user", _text_part(text))
        return cls(role="user", parts=[TextPart(text=text), *images])

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls._of_valid_part("assistant", _text_part(text))

    @classmethod
    def tool_result(
        cls, tool_call_id: str, content: str, *, name: str | None = None, is_error: bool = False
    ) -> Message:
        part = ToolResultPart(tool_call_id=tool_call_id, content=content, name=name, is_error=is_error)
        return cls._of_valid_part("tool", part)

    @classmethod
    def _of_valid_part(cls, role: Role, part: BaseModel) -> Message:
        """``cls(role=role, parts=[part])`` for a part just validated, without validating
        it again (the user's message of every turn: 1.0 us instead of 2.8)."""
        return constructed(cls, {"role": role, "parts": [part], "name": None}, {"role", "parts"})

    @property
    def text(self) -> str:
        """All text parts joined; what a person reads of this message."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def reasoning(self) -> str | None:
        texts = [p.text for p in self.parts if isinstance(p, ReasoningPart)]
        return "".join(texts) if texts else None
