"""What a rate limit says, as written in the config file, ``AI_RATE_LIMITS`` or ``AI(rate_limits=...)``.

    [[rate_limits]]
    scope = "provider"           # provider, model, user or tenant
    name = "openai"              # which one; leave out for "each one separately"
    requests_per_minute = 500
    tokens_per_minute = 200000

Kept free of the ``limits`` library so reading settings never imports it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RateLimit", "Scope", "as_rules"]

Scope = Literal["provider", "model", "user", "tenant"]


class RateLimit(BaseModel):
    """One limit: requests and/or tokens per minute for a provider, a model
    (``"openai/gpt-4o"``), a user or a tenant. Without ``name`` the limit applies
    to each provider (model, user, tenant) separately."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope
    name: str | None = Field(None, min_length=1)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _something_limited(self) -> RateLimit:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("a rate limit needs requests_per_minute or tokens_per_minute")
        if self.scope == "model" and self.name is not None and "/" not in self.name:
            raise ValueError(f"a model limit names 'provider/model', got {self.name!r}")
        return self

    def describe(self, kind: str, subject: str | None) -> str:
        """``"60 requests per minute for tenant 'acme'"``."""
        amount = self.requests_per_minute if kind == "requests" else self.tokens_per_minute
        return f"{amount} {kind} per minute for {self.scope} {subject or self.name!r}"


def as_rules(items: list[Any]) -> list[RateLimit]:
    return [item if isinstance(item, RateLimit) else RateLimit.model_validate(item) for item in items]
