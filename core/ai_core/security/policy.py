"""Request validation policies: who may call which model, how big, with what metadata.

A policy applies to a tenant and/or a user (``None`` matches everyone); every
policy that applies to a call must allow it. Each can restrict:

* ``allowed_providers`` and ``allowed_models`` (``"provider/model"`` glob
  patterns, e.g. ``"openai/gpt-4o*"``);
* ``max_prompt_chars`` (all text of the request as sent: system prompt, history,
  tool results) and ``max_prompt_tokens`` (the same, estimated at four
  characters a token);
* ``max_tokens``: a request asking for more output is refused; one that sets no
  limit is sent with this one;
* ``required_metadata``: keys the call's ``.metadata(...)`` must carry.

Configured as ``policies = [{...}]`` in the config file (``AI_POLICIES`` as a
JSON list) or given to one ``AI`` as ``PolicyMiddleware(policies=[...])``.
Enforced by :class:`PolicyMiddleware`, registered by core's plugin and active
only when some policy is configured: a refusal is a
:class:`~ai_core.errors.RequestValidationError` raised before any provider is
called, and every decision is left in ``call.state["policy_decisions"]`` for
the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ai_core import errors
from ai_core.pipeline.middleware import Call, Middleware
from ai_core.types import ChatRequest, ImagePart, TextPart, ToolCallPart, ToolResultPart

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = ["PolicyMiddleware", "RequestPolicy", "parse_policies", "prompt_chars"]

CHARS_PER_TOKEN = 4


class RequestPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "policy"
    tenant: str | None = None
    user: str | None = None
    allowed_providers: tuple[str, ...] | None = None
    allowed_models: tuple[str, ...] | None = None
    max_prompt_chars: int | None = Field(None, ge=1)
    max_prompt_tokens: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    required_metadata: tuple[str, ...] = ()

    def applies(self, tenant: str | None, user: str | None) -> bool:
        return (self.tenant is None or self.tenant == tenant) and (self.user is None or self.user == user)

    def problems(self, request: ChatRequest, metadata: Mapping[str, str]) -> list[dict[str, Any]]:
        """Why ``request`` is refused (empty: allowed), as pydantic-style error entries."""
        found: list[dict[str, Any]] = []

        def refuse(loc: str, msg: str) -> None:
            found.append({"type": "policy", "loc": (loc,), "msg": msg, "policy": self.name})

        if self.allowed_providers is not None and request.provider not in self.allowed_providers:
            refuse(
                "provider",
                f"provider {request.provider!r} is not allowed "
                f"(allowed: {', '.join(self.allowed_providers) or 'none'})",
            )
        qualified = request.qualified_model
        if self.allowed_models is not None and not any(fnmatchcase(qualified, p) for p in self.allowed_models):
            refuse("model", f"model {qualified!r} is not allowed (allowed: {', '.join(self.allowed_models) or 'none'})")
        if self.max_prompt_chars is not None or self.max_prompt_tokens is not None:
            chars = prompt_chars(request)
            if self.max_prompt_chars is not None and chars > self.max_prompt_chars:
                refuse("messages", f"the prompt is {chars} characters; at most {self.max_prompt_chars} are allowed")
            tokens = -(-chars // CHARS_PER_TOKEN)
            if self.max_prompt_tokens is not None and tokens > self.max_prompt_tokens:
                refuse("messages", f"the prompt is about {tokens} tokens; at most {self.max_prompt_tokens} are allowed")
        if self.max_tokens is not None and request.max_tokens is not None and request.max_tokens > self.max_tokens:
            refuse("max_tokens", f"max_tokens {request.max_tokens} is above the allowed {self.max_tokens}")
        missing = [key for key in self.required_metadata if not metadata.get(key)]
        if missing:
            refuse("metadata", f"required metadata missing: {', '.join(missing)}")
        return found


def parse_policies(raw: Iterable[Mapping[str, Any] | RequestPolicy]) -> list[RequestPolicy]:
    """Policies from configuration; a bad one is a ConfigurationError naming it."""
    policies: list[RequestPolicy] = []
    for index, item in enumerate(raw):
        if isinstance(item, RequestPolicy):
            policies.append(item)
            continue
        try:
            policies.append(RequestPolicy.model_validate(dict(item)))
        except (ValidationError, TypeError, ValueError) as exc:
            detail = exc.errors(include_url=False)[0] if isinstance(exc, ValidationError) else {"msg": str(exc)}
            where = ".".join(str(p) for p in detail.get("loc", ()))
            raise errors.ConfigurationError(
                f"invalid policy #{index + 1}{f' ({where})' if where else ''}: {detail.get('msg')}"
            ) from None
    return policies


def prompt_chars(request: ChatRequest) -> int:
    chars = len(request.system or "")
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                chars += len(part.text)
            elif isinstance(part, ToolResultPart):
                chars += len(part.content)
            elif isinstance(part, ToolCallPart):
                chars += len(part.name) + len(str(part.arguments))
            elif isinstance(part, ImagePart):
                continue
    return chars


class PolicyMiddleware(Middleware):
    """Enforce request policies before any provider call (order 20: outside budgets and caches)."""

    name = "policy"
    order = 20

    def __init__(self, policies: Sequence[Mapping[str, Any] | RequestPolicy] | None = None) -> None:
        self._given = parse_policies(policies) if policies is not None else None
        self._parsed: tuple[list[Any], list[RequestPolicy]] | None = None

    def enabled(self, settings: Settings) -> bool:
        """Active when a policy is configured; a bad one fails here, when the ``AI`` is made."""
        return bool(self.policies(settings)) or self._given is not None

    def policies(self, settings: Settings) -> list[RequestPolicy]:
        if self._given is not None:
            return self._given
        cached = self._parsed
        if cached is None or cached[0] is not settings.policies:
            cached = self._parsed = (settings.policies, parse_policies(settings.policies))
        return cached[1]

    async def rewrite(self, call: Call) -> Call:
        request = call.request
        decisions: list[dict[str, Any]] = call.state.setdefault("policy_decisions", [])
        problems: list[dict[str, Any]] = []
        cap: int | None = None
        for policy in self.policies(call.services.settings):
            if not policy.applies(call.tenant, call.user):
                continue
            found = policy.problems(request, request.metadata)
            decisions.append({"policy": policy.name, "decision": "refused" if found else "allowed"})
            problems += found
            if policy.max_tokens is not None:
                cap = policy.max_tokens if cap is None else min(cap, policy.max_tokens)
        if problems:
            reasons = "; ".join(str(p["msg"]) for p in problems)
            raise errors.RequestValidationError(
                f"refused by policy {problems[0]['policy']!r}: {reasons}", errors=problems
            )
        if cap is not None and request.max_tokens is None:
            call = call.with_request(request.model_copy(update={"max_tokens": cap}))
        return call
