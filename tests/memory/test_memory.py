"""Memory: a conversation grows past a small context window and keeps working; without memory it is
refused before sending, with the estimate."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from ai_core import errors, hookimpl
from ai_core.config import load_settings
from ai_core.drivers.base import ProviderConfig
from ai_core.drivers.fake import FAKE_CAPABILITIES, FakeDriver
from ai_core.memory.summary import context_key
from ai_core.testing import fake_registry
from ai_core.types import ChatRequest, ModelInfo

WINDOW = 600


class TinyModel:
    @hookimpl
    def register_models(self, register: Any) -> None:
        register(
            ModelInfo(
                provider="main", id="tiny", context_window=WINDOW, max_output_tokens=100, capabilities=FAKE_CAPABILITIES
            )
        )


def summarise(request: ChatRequest) -> str:
    facts = sorted(set(re.findall(r"fact-\d+", request.messages[-1].text)), key=lambda f: int(f[5:]))
    return "Remembered: " + ", ".join(facts)


def make_ai(database_url: str | None) -> tuple[Any, FakeDriver, FakeDriver]:
    from ai_core import AI

    main = FakeDriver(ProviderConfig(provider="main"))
    cheap = FakeDriver.scripted([summarise] * 200)
    config = load_settings(persistence=database_url is not None, database_url=database_url, default_model="main/tiny")
    ai = AI(drivers={"main": main, "fake": cheap}, registry=fake_registry(("tiny", TinyModel())), settings=config)
    return ai, main, cheap


def turn(index: int) -> str:
    return f"Turn {index} brings fact-{index}. " + "Some padding text to make the turn long. " * 5


@pytest.mark.anyio
async def test_without_memory_a_request_that_cannot_fit_is_refused_before_sending() -> None:
    ai, main, _ = make_ai(None)
    async with ai:
        chat = ai.conversation()
        with pytest.raises(errors.ContextLengthExceededError) as caught:
            for index in range(40):
                await chat.user(turn(index)).asend()
        error = caught.value
        assert error.context_window == WINDOW
        assert error.estimated_tokens is not None and error.estimated_tokens > WINDOW
        assert f"{WINDOW}-token context window of main/tiny" in str(error)
        sent = len(main.calls)
        assert sent < 40  # the refused request never reached the driver
        with pytest.raises(errors.ContextLengthExceededError):
            await chat.user("one more").asend()
        assert len(main.calls) == sent


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
async def test_a_conversation_grows_past_the_window_and_keeps_working(database_url: str, streaming: bool) -> None:
    from ai_core.memory.guard import estimate_prompt_tokens

    ai, main, cheap = make_ai(database_url)
    async with ai:
        chat = ai.conversation(user="ada").memory("summary", model="fake/echo")
        for index in range(30):
            chat.user(turn(index))
            if streaming:
                async for _ in chat.astream():
                    pass
            else:
                reply = await chat.asend()
                assert reply.text.startswith("Echo: Turn")
            await ai.events.adrain()  # let the background summariser run between turns
        assert len(main.calls) == 30
        assert all(estimate_prompt_tokens(request) <= WINDOW for request in main.calls)
        last = main.calls[-1]
        assert last.system is not None and "Summary of the earlier conversation" in last.system
        assert "fact-0" in last.system  # the oldest facts survive in the summary
        assert len(last.messages) < 60
        assert cheap.calls, "the summariser was called"

        with ai.services.database.read() as conn:
            memory = conn.execute(
                text(
                    "SELECT key, covered_messages, summaries, cost, summarizer_conversation_id, model "
                    "FROM ai_conversation_memory WHERE conversation_id = :id"
                ),
                {"id": chat.id},
            ).one()
            summariser_rows = conn.execute(
                text(
                    "SELECT cost, cost_known, provider FROM ai_messages "
                    "WHERE conversation_id = :id AND role = 'assistant'"
                ),
                {"id": memory.summarizer_conversation_id},
            ).all()
        assert memory.key == context_key(chat.id) == f"ai:conversation:{chat.id}:context"
        assert memory.covered_messages > 0 and memory.summaries >= 2 and memory.model == "fake/echo"
        assert memory.cost is not None and Decimal(str(memory.cost)) > 0  # priced like any other call
        assert summariser_rows and all(row.cost_known and Decimal(str(row.cost)) > 0 for row in summariser_rows)

        # A new process resuming the conversation finds the stored summary.
        resumed = ai.conversation(id=chat.id, user="ada").memory("summary", model="fake/echo")
        await resumed.user("and now?").asend()
        assert "Summary of the earlier conversation" in (main.calls[-1].system or "")


def test_bad_memory_settings_are_configuration_errors() -> None:
    ai, _, _ = make_ai(None)
    with ai:
        with pytest.raises(errors.ConfigurationError, match="unknown memory strategy"):
            ai.conversation().memory("vector", model="fake/echo")
        with pytest.raises(errors.ConfigurationError, match="unknown memory option"):
            ai.conversation().memory("summary", model="fake/echo", keep=3)
        with pytest.raises(errors.ConfigurationError, match="trigger"):
            ai.conversation().memory("summary", model="fake/echo", trigger=2)
