"""Assertions over what a fake driver was sent.

``FakeDriver.calls`` holds every :class:`~ai_core.types.ChatRequest` the
pipeline handed to the driver, after middleware, with the history, tools and
options as the provider would have seen them. These helpers check it and, when
a check fails, print every call so the mismatch is visible without a debugger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.types import ChatRequest

__all__ = [
    "assert_called",
    "assert_not_called",
    "calls_of",
    "describe_calls",
    "last_request",
    "last_user_text",
    "tool_names",
]

_UNSET: Any = object()


def calls_of(fake: Any) -> list[ChatRequest]:
    """The recorded requests of a fake (anything with ``.calls``) or a list of them."""
    calls = getattr(fake, "calls", fake)
    if not isinstance(calls, Sequence):
        raise TypeError(f"expected a FakeDriver or a list of ChatRequest, got {type(fake).__name__}")
    return list(calls)


def last_request(fake: Any) -> ChatRequest:
    calls = calls_of(fake)
    if not calls:
        raise AssertionError("the fake was never called")
    return calls[-1]


def last_user_text(request: ChatRequest) -> str:
    """Text of the request's last user message ("" when there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return ""


_user_text = last_user_text  # assert_called's keyword of the same name shadows it


def tool_names(request: ChatRequest) -> list[str]:
    return [tool.name for tool in request.tools or []]


def _shorten(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "None"
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def describe_calls(fake: Any) -> str:
    """One line per call: model, system prompt, tools and the last user text."""
    calls = calls_of(fake)
    if not calls:
        return "  (no calls)"
    lines = []
    for index, request in enumerate(calls):
        extras = []
        if request.tools:
            extras.append(f"tools={tool_names(request)}")
        if request.tool_choice:
            extras.append(f"tool_choice={request.tool_choice!r}")
        if request.provider_options:
            extras.append(f"options={sorted(request.provider_options)}")
        lines.append(
            f"  #{index} {request.provider}/{request.model} system={_shorten(request.system)} "
            f"user={_shorten(last_user_text(request))} messages={len(request.messages)}"
            + (" " + " ".join(extras) if extras else "")
        )
    return "\n".join(lines)


def assert_not_called(fake: Any) -> None:
    calls = calls_of(fake)
    if calls:
        raise AssertionError(f"expected no calls, got {len(calls)}:\n{describe_calls(calls)}")


def assert_called(
    fake: Any,
    *,
    times: int | None = None,
    call: int = -1,
    model: str | None = None,
    tools: Sequence[str] | None = None,
    system: str | None = _UNSET,
    last_user_text: str | None = None,
    user_text_contains: str | None = None,
    tool_choice: str | None = _UNSET,
    temperature: float | None = _UNSET,
    max_tokens: int | None = _UNSET,
    options: Mapping[str, Any] | None = None,
) -> ChatRequest:
    """Check how often the fake was called and what one call carried.

    :param times: exact number of calls; without it, at least one.
    :param call: which call the other checks look at (default the last).
    :param model: ``"model"`` or ``"provider/model"``.
    :param tools: the tool names offered, in any order (``[]`` means none).
    :param system: the exact system prompt (``None`` means none was set).
    :param last_user_text: the exact text of the last user message.
    :param user_text_contains: a substring of the last user message.
    :param options: items that must be in ``provider_options``.
    :returns: the checked request, for further asserts.
    """
    calls = calls_of(fake)
    if times is not None and len(calls) != times:
        raise AssertionError(f"expected {times} call(s), got {len(calls)}:\n{describe_calls(calls)}")
    if not calls:
        raise AssertionError("expected the fake to be called, but it never was")
    try:
        request = calls[call]
    except IndexError:
        raise AssertionError(f"no call #{call}; there were {len(calls)}:\n{describe_calls(calls)}") from None

    problems: list[str] = []

    def check(name: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            problems.append(f"{name}: expected {expected!r}, got {actual!r}")

    if model is not None:
        check("model", model, request.qualified_model if "/" in model else request.model)
    if tools is not None:
        check("tools", sorted(tools), sorted(tool_names(request)))
    if system is not _UNSET:
        check("system", system, request.system)
    if last_user_text is not None:
        check("last user text", last_user_text, _user_text(request))
    if user_text_contains is not None and user_text_contains not in _user_text(request):
        problems.append(f"last user text {_user_text(request)!r} does not contain {user_text_contains!r}")
    if tool_choice is not _UNSET:
        check("tool_choice", tool_choice, request.tool_choice)
    if temperature is not _UNSET:
        check("temperature", temperature, request.temperature)
    if max_tokens is not _UNSET:
        check("max_tokens", max_tokens, request.max_tokens)
    for key, value in (options or {}).items():
        if key not in request.provider_options:
            problems.append(f"provider option {key!r}: missing (has {sorted(request.provider_options)})")
        else:
            check(f"provider option {key!r}", value, request.provider_options[key])
    if problems:
        index = call if call >= 0 else len(calls) + call
        raise AssertionError(
            f"call #{index} does not match:\n  - " + "\n  - ".join(problems) + f"\nall calls:\n{describe_calls(calls)}"
        )
    return request
