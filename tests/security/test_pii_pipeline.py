"""The PII layer in the whole pipeline: a real OpenAI-compatible server on 127.0.0.1, a real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers.fixtures import driver_config
from servers.openai_compat import Completion, OpenAICompatServer
from sqlalchemy import text

from ai_core.config import load_settings
from ai_core.testing import fake_registry
from tests.security.test_pii_filter import ALL

SECRETS = [value for value, _ in ALL]


def make_ai(server: OpenAICompatServer, database_url: str | None, **pii: Any) -> Any:
    from ai_core import AI
    from ai_openai.driver import OpenAIDriver

    config = load_settings(
        persistence=database_url is not None,
        database_url=database_url,
        pii=pii or {"enabled": True},
        default_model="openai/gpt-4o-mini",
    )
    return AI(drivers={"openai": OpenAIDriver(driver_config(server))}, registry=fake_registry(), settings=config)


def stored_text(ai: Any) -> str:
    with ai.services.database.read() as conn:
        rows = conn.execute(text("SELECT parts FROM ai_messages")).all()
    return " ".join(json.dumps(row[0]) if not isinstance(row[0], str) else row[0] for row in rows)


def sent_text(server: OpenAICompatServer) -> str:
    return " ".join(json.dumps(body["messages"]) for body in server.chat_bodies)


@pytest.fixture
def ai(openai_server: OpenAICompatServer, database_url: str) -> Iterator[Any]:
    with make_ai(openai_server, database_url) as instance:
        yield instance


words = st.text(alphabet="abcdefghij klmnop,.;:!?", max_size=30)
documents = st.lists(st.tuples(words, st.sampled_from(SECRETS)), min_size=1, max_size=4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents, documents)
def test_embedded_values_reach_neither_the_provider_nor_the_store(
    ai: Any,
    openai_server: OpenAICompatServer,
    prompt: list[tuple[str, str]],
    answer: list[tuple[str, str]],
) -> None:
    openai_server.reset()
    prompt_text = "".join(f"{w} {s} " for w, s in prompt)
    answer_text = "".join(f"{w} {s} " for w, s in answer)
    openai_server.reply(Completion(text=answer_text, chunk_size=7))
    chat = ai.conversation().system(f"user card {prompt[0][1]} ").user(prompt_text)
    reply = chat.send()
    sent, stored = sent_text(openai_server), stored_text(ai)
    for _, value in prompt + answer:
        assert value not in reply.text
        assert value not in sent
        assert value not in stored
    assert "[" in reply.text  # something was redacted in the answer too


@pytest.mark.anyio
async def test_a_stream_split_inside_every_pattern_is_redacted(
    openai_server: OpenAICompatServer,
    database_url: str,
) -> None:
    answer = " and ".join(SECRETS)
    openai_server.reply(Completion(text=answer, chunk_size=3))  # three characters a chunk: every value is split
    async with make_ai(openai_server, database_url) as ai:
        deltas: list[str] = []
        final = None
        async for event in ai.conversation().user("list them").astream():
            if hasattr(event, "text"):
                deltas.append(event.text)
            else:
                final = getattr(event, "response", final)
        streamed = "".join(deltas)
        for value in SECRETS:
            assert value not in streamed
        assert final is not None and streamed == final.text
        assert streamed.count("[") == len(SECRETS)
        assert all(value not in stored_text(ai) for value in SECRETS)


@pytest.mark.anyio
async def test_store_original_keeps_what_was_typed_but_the_provider_sees_it_redacted(
    openai_server: OpenAICompatServer,
    database_url: str,
) -> None:
    async with make_ai(openai_server, database_url, redact="request", store="original") as ai:
        await ai.conversation().user("mail me at john.doe@example.com").asend()
        assert "john.doe@example.com" not in sent_text(openai_server)
        assert "[EMAIL]" in sent_text(openai_server)
        assert "john.doe@example.com" in stored_text(ai)


@pytest.mark.anyio
async def test_store_both_keeps_the_original_encrypted(
    openai_server: OpenAICompatServer,
    database_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    from ai_core.credentials.keys import generate_key

    monkeypatch.setenv("AI_ENCRYPTION_KEY", generate_key().decode())
    openai_server.reply(Completion(text="call +44 20 7946 0958"))
    async with make_ai(openai_server, database_url, store="both") as ai:
        await ai.conversation().user("card 4111 1111 1111 1111 please").asend()
        assert "4111 1111 1111 1111" not in stored_text(ai) and "7946" not in stored_text(ai)
        with ai.services.database.read() as conn:
            rows = conn.execute(text("SELECT role, redacted_sha256, encrypted_original FROM ai_pii_originals")).all()
        assert {row.role for row in rows} == {"user", "assistant"}
        from ai_core.credentials.keys import KeyConfig, load_keyring

        keyring = load_keyring(KeyConfig.from_settings(ai.settings))
        originals = {keyring.decrypt(row.encrypted_original, what="pii"): row.redacted_sha256 for row in rows}
        assert originals["card 4111 1111 1111 1111 please"] == hashlib.sha256(b"card [CARD] please").hexdigest()
        assert originals["call +44 20 7946 0958"] == hashlib.sha256(b"call [PHONE]").hexdigest()
        assert all("4111" not in row.encrypted_original for row in rows)


def test_unconfigured_pii_costs_nothing_and_changes_nothing(openai_server: OpenAICompatServer) -> None:
    from ai_core import AI
    from ai_openai.driver import OpenAIDriver

    openai_server.reply(Completion(text="a.b@example.com"))
    config = load_settings(persistence=False, default_model="openai/gpt-4o-mini")
    with AI(
        drivers={"openai": OpenAIDriver(driver_config(openai_server))}, registry=fake_registry(), settings=config
    ) as ai:
        assert "pii" not in {layer.name for layer in ai.middleware}
        assert ai.conversation().user("x@example.com").send().text == "a.b@example.com"
