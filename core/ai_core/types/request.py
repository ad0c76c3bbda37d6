"""A chat request as core hands it to a driver.

``provider_options`` is passed to the driver untouched: it is how a caller
uses a provider feature core does not model, without waiting for a release.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ai_core.types.messages import Message

__all__ = ["ChatRequest", "ResponseFormat", "ToolChoice", "ToolSpec"]


class ToolSpec(BaseModel):
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type", "object") != "object":
            raise ValueError("tool parameters must be a JSON Schema of type 'object'")
        return value


ToolChoice = Literal["auto", "none", "required"] | str
"""``auto``/``none``/``required``, or the name of one tool the model must call."""


class ResponseFormat(BaseModel):
    """Ask for JSON output: any JSON object, or one matching ``json_schema``."""

    model_config = ConfigDict(frozen=True)

    type: Literal["json_object", "json_schema"] = "json_schema"
    name: str = "response"
    json_schema: dict[str, Any] | None = None
    strict: bool = True

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and not self.json_schema:
            raise ValueError("response format 'json_schema' needs a json_schema")
        return self


class ChatRequest(BaseModel):
    """Everything a driver needs for one call. ``model`` is the provider's own id."""

    model_config = ConfigDict(frozen=True)

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    system: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = Field(None, max_length=16)
    seed: int | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    provider_options: dict[str, Any] = Field(default_factory=dict)
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_names_a_tool(cls, choice: ToolChoice | None, info: ValidationInfo) -> ToolChoice | None:
        # A field's validator, not the model's: it runs only for a request that has a tool_choice.
        if "tools" not in info.data:  # the tools were invalid: their error says so
            return choice
        tools: list[ToolSpec] | None = info.data["tools"]
        if choice and choice not in ("auto", "none", "required") and choice not in {t.name for t in tools or []}:
            raise ValueError(f"tool_choice {choice!r} names no tool of this request")
        if choice == "required" and not tools:
            raise ValueError("tool_choice 'required' needs at least one tool")
        return choice

    @property
    def qualified_model(self) -> str:
        return f"{self.provider}/{self.model}"
