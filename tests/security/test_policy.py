"""Request policies: refusals before any request reaches the server."""

from __future__ import annotations

from typing import Any

import pytest
from servers.fixtures import driver_config
from servers.openai_compat import OpenAICompatServer

from ai_core import errors
from ai_core.config import load_settings
from ai_core.security.policy import PolicyMiddleware
from ai_core.testing import fake_registry


def make_ai(server: OpenAICompatServer, policies: list[dict[str, Any]] | None = None, **options: Any) -> Any:
    from ai_core import AI
    from ai_openai.driver import OpenAIDriver

    config = load_settings(persistence=False, default_model="openai/gpt-4o-mini", policies=policies or [])
    return AI(
        drivers={"openai": OpenAIDriver(driver_config(server))}, registry=fake_registry(), settings=config, **options
    )


POLICIES = [
    {
        "name": "acme",
        "tenant": "acme",
        "allowed_models": ["openai/gpt-4o-mini"],
        "max_tokens": 200,
        "required_metadata": ["purpose"],
        "max_prompt_chars": 100,
    },
    {"name": "interns", "tenant": "acme", "user": "intern", "allowed_providers": ["fake"]},
]


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("build", "loc", "words"),
    [
        (lambda c: c.model("openai/gpt-4o").metadata(purpose="x").user("hi"), "model", "not allowed"),
        (lambda c: c.metadata(purpose="x").max_tokens(500).user("hi"), "max_tokens", "above the allowed 200"),
        (lambda c: c.user("hi"), "metadata", "required metadata missing: purpose"),
        (lambda c: c.metadata(purpose="x").user("x" * 101), "messages", "101 characters"),
        (
            lambda c: c.for_user("intern").metadata(purpose="x").user("hi"),
            "provider",
            "provider 'openai' is not allowed",
        ),
    ],
)
async def test_refused_before_any_request_reaches_the_server(
    openai_server: OpenAICompatServer,
    build: Any,
    loc: str,
    words: str,
    streaming: bool,
) -> None:
    async with make_ai(openai_server, POLICIES) as ai:
        chat = build(ai.conversation(tenant="acme"))
        with pytest.raises(errors.RequestValidationError) as caught:
            if streaming:
                async for _ in chat.astream():
                    pass
            else:
                await chat.asend()
        assert words in str(caught.value)
        assert any(e["loc"] == (loc,) for e in caught.value.errors)
        assert openai_server.chat_bodies == []


@pytest.mark.anyio
async def test_allowed_calls_go_through_with_max_tokens_capped(openai_server: OpenAICompatServer) -> None:
    async with make_ai(openai_server, POLICIES) as ai:
        await ai.conversation(tenant="acme").metadata(purpose="support").user("hi").asend()
        assert (
            openai_server.chat_bodies[-1].get("max_tokens", openai_server.chat_bodies[-1].get("max_completion_tokens"))
            == 200
        )
        await ai.conversation(tenant="other").model("openai/gpt-4o").user("no policy applies").asend()
        assert len(openai_server.chat_bodies) == 2


@pytest.mark.anyio
async def test_a_policy_given_to_one_instance(openai_server: OpenAICompatServer) -> None:
    layer = PolicyMiddleware(policies=[{"allowed_models": ["openai/gpt-4o"]}])
    async with make_ai(openai_server, middleware=[layer]) as ai:
        with pytest.raises(errors.RequestValidationError, match="gpt-4o-mini' is not allowed"):
            await ai.conversation().user("hi").asend()
    assert openai_server.chat_bodies == []


def test_a_bad_policy_is_one_configuration_line(openai_server: OpenAICompatServer) -> None:
    with pytest.raises(errors.ConfigurationError, match=r"invalid policy #1 \(max_tokens\)"):
        make_ai(openai_server, [{"max_tokens": -1}])
    with pytest.raises(errors.ConfigurationError, match="invalid policy #1"):
        PolicyMiddleware(policies=[{"no_such_rule": 1}])
