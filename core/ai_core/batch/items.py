"""What a batch item is, how one is read, and what comes back for it.

An item is a mapping (one JSONL line of ``ai batch``, or a dict given to
``AI.batch``) or any object with the same attributes::

    {"id": "q1", "model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
     "temperature": 0.2, "max_tokens": 100}

``prompt`` replaces ``messages`` for one user message. A bad item is refused
with one line saying what is wrong (:class:`~ai_core.errors.RequestValidationError`),
and becomes an error result: it never stops the other items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from ai_core import errors
from ai_core.types import ChatResponse, Cost, ImagePart, Message, TextPart, TokenUsage

__all__ = ["ITEM_FIELDS", "BatchItem", "BatchResult", "parse_item"]

MAX_ID_LENGTH = 255

_PARAMS = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "reasoning_effort": (str,),
}

ITEM_FIELDS = (
    "id", "model", "messages", "prompt", "system", *_PARAMS, "stop", "response_format", "options",
    "user", "tenant", "tags", "metadata", "max_cost", "fallback",
)  # fmt: skip
"""The fields an item may carry; anything else is refused (provider fields go in ``options``)."""


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch, validated."""

    id: str
    messages: tuple[Message, ...]
    model: str | None = None
    system: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    json_object: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    user: str | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    max_cost: Decimal | None = None
    fallback: tuple[str, ...] = ()


@dataclass
class BatchResult:
    """What became of one item: an answer (``text``, ``usage``, ``cost``) or an ``error``.

    ``resumed`` marks an answer taken from the ledger (the call was made by an
    earlier, interrupted run) instead of sent again.
    """

    id: str
    text: str | None = None
    usage: TokenUsage | None = None
    cost: Cost | None = None
    model: str | None = None
    conversation_id: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    response: ChatResponse | None = None
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, item_id: str, exc: BaseException, conversation_id: str | None = None) -> BatchResult:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return cls(id=item_id, error=message, error_type=type(exc).__name__, conversation_id=conversation_id)

    @classmethod
    def answered(cls, item_id: str, response: ChatResponse) -> BatchResult:
        return cls(
            id=item_id,
            text=response.text,
            usage=response.usage,
            cost=response.cost,
            model=f"{response.provider}/{response.model}",
            conversation_id=response.conversation_id,
            finish_reason=response.finish_reason,
            response=response,
        )

    def to_json(self) -> dict[str, Any]:
        """The output line of ``ai batch``: money as a decimal string, never a float."""
        usage = None
        if self.usage is not None:
            usage = {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "cached_input_tokens": self.usage.cached_input_tokens,
                "reasoning_tokens": self.usage.reasoning_tokens,
                "total_tokens": self.usage.total_tokens,
            }
        cost = None
        if self.cost is not None and self.cost.total is not None:
            cost = _money_text(self.cost.total)
        return {
            "id": self.id,
            "model": self.model,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "usage": usage,
            "cost": cost,
            "currency": self.cost.currency if self.cost is not None else None,
            "conversation_id": self.conversation_id,
            "error": None if self.error is None else {"type": self.error_type, "message": self.error},
        }


def _money_text(value: Decimal) -> str:
    """Plain digits, exact, without the trailing zeros a database column's scale adds."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _invalid(item_id: str | None, message: str) -> errors.RequestValidationError:
    where = f"item {item_id!r}: " if item_id else ""
    return errors.RequestValidationError(f"{where}{message}")


def item_id_of(data: Any) -> str | None:
    """The id an item claims, if it is a usable string (for naming it in an error)."""
    value = data.get("id") if isinstance(data, Mapping) else getattr(data, "id", None)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value and len(value) <= MAX_ID_LENGTH else None


def _as_mapping(data: Any) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    dump = getattr(data, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)  # type: ignore[no-any-return]
    if hasattr(data, "__dict__"):
        return {k: v for k, v in vars(data).items() if not k.startswith("_") and v is not None}
    raise _invalid(None, f"an item must be an object with an id, got {type(data).__name__}")


def parse_item(data: Any) -> BatchItem:
    """Validate one item; raise :class:`~ai_core.errors.RequestValidationError` saying what is wrong."""
    if isinstance(data, BatchItem):
        return data
    fields = _as_mapping(data)
    raw_id = fields.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise _invalid(None, 'missing "id" (a non-empty string)')
    if len(raw_id) > MAX_ID_LENGTH:
        raise _invalid(None, f'"id" is {len(raw_id)} characters long; at most {MAX_ID_LENGTH} are allowed')
    item_id = raw_id
    unknown = sorted(set(fields) - set(ITEM_FIELDS))
    if unknown:
        raise _invalid(
            item_id,
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            '(provider-specific fields go in "options")',
        )
    model = _optional_str(fields, "model", item_id)
    if model is not None:
        from ai_core.pipeline.providers import split_model

        try:
            split_model(model)
        except errors.RequestValidationError:
            raise _invalid(item_id, f"\"model\" must be 'provider/model', got {model!r}") from None
    system = _optional_str(fields, "system", item_id)
    messages = _messages(fields, item_id)
    if system is None and messages and messages[0].role == "system":
        system, messages = messages[0].text, messages[1:]
    if not messages:
        raise _invalid(item_id, 'no user message: give "prompt" or a non-empty "messages" list')
    params: dict[str, Any] = {}
    for name, kinds in _PARAMS.items():
        value = fields.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "an integer" if kinds == (int,) else "a number" if int in kinds else "a string"
            raise _invalid(item_id, f'"{name}" must be {kind}, got {value!r}')
        params[name] = value
    stop = fields.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _invalid(item_id, '"stop" must be a string or a list of strings')
        params["stop"] = stops
    return BatchItem(
        id=item_id,
        messages=tuple(messages),
        model=model,
        system=system,
        params=params,
        json_object=_json_object(fields.get("response_format"), item_id),
        options=_mapping(fields, "options", item_id),
        user=_optional_str(fields, "user", item_id),
        tenant=_optional_str(fields, "tenant", item_id),
        tags=tuple(_str_list(fields, "tags", item_id)),
        metadata={k: str(v) for k, v in _mapping(fields, "metadata", item_id).items()},
        max_cost=_money(fields.get("max_cost"), item_id),
        fallback=tuple(_str_list(fields, "fallback", item_id)),
    )


def _optional_str(fields: Mapping[str, Any], name: str, item_id: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(item_id, f'"{name}" must be a non-empty string, got {value!r}')
    return value


def _str_list(fields: Mapping[str, Any], name: str, item_id: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise _invalid(item_id, f'"{name}" must be a list of strings')
    return list(value)


def _mapping(fields: Mapping[str, Any], name: str, item_id: str) -> dict[str, Any]:
    value = fields.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(item_id, f'"{name}" must be an object')
    return dict(value)


def _money(value: Any, item_id: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else Decimal("nan")
    except InvalidOperation:
        amount = Decimal("nan")
    if not amount.is_finite() or amount <= 0:
        raise _invalid(item_id, f'"max_cost" must be a positive amount, got {value!r}')
    return amount


def _json_object(value: Any, item_id: str) -> bool:
    if value is None:
        return False
    if isinstance(value, Mapping) and value.get("type") in ("json_object", "text"):
        return value.get("type") == "json_object"
    raise _invalid(item_id, '"response_format" may only be {"type": "json_object"} or {"type": "text"}')


def _messages(fields: Mapping[str, Any], item_id: str) -> list[Message]:
    prompt, messages = fields.get("prompt"), fields.get("messages")
    if prompt is not None and messages is not None:
        raise _invalid(item_id, 'give either "prompt" or "messages", not both')
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise _invalid(item_id, '"prompt" must be a non-empty string')
        return [Message.user(prompt)]
    if messages is None:
        return []
    if not isinstance(messages, list | tuple):
        raise _invalid(item_id, '"messages" must be a list')
    return [_message(m, index, item_id) for index, m in enumerate(messages)]


def _message(value: Any, index: int, item_id: str) -> Message:
    if isinstance(value, Message):
        return value
    where = f"messages[{index}]"
    if not isinstance(value, Mapping):
        raise _invalid(item_id, f'{where} must be an object with "role" and "content"')
    role, content = value.get("role"), value.get("content")
    if role not in ("system", "user", "assistant"):
        raise _invalid(item_id, f'{where}.role must be "system", "user" or "assistant", got {role!r}')
    parts: list[Any] = []
    if isinstance(content, str):
        parts.append(TextPart(text=content))
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(TextPart(text=part["text"]))
            elif isinstance(part, Mapping) and part.get("type") == "image_url" and role == "user":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, Mapping) else url
                if not isinstance(url, str):
                    raise _invalid(item_id, f"{where}: an image_url part needs a URL")
                parts.append(ImagePart(url=url))
            else:
                raise _invalid(item_id, f"{where}.content: parts must be text (or image_url in a user message)")
    if not parts or not any(isinstance(p, TextPart | ImagePart) for p in parts):
        raise _invalid(item_id, f"{where}.content must be a non-empty string or a list of parts")
    try:
        return Message(role=role, parts=parts)
    except ValidationError as exc:
        raise _invalid(item_id, f"{where}: {exc.errors(include_url=False)[0]['msg']}") from None
