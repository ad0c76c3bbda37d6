"""Middleware checked at registration, one-method rewrites, what is stored, and
per-conversation layers and callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ai_core import AI, Call, ConfigurationError, Middleware, RateLimitError, TextDelta
from ai_core.drivers.fake import FakeDriver
from tests.core.test_pipeline import make_ai

pytestmark = pytest.mark.anyio


class OnlyCall(Middleware):
    name = "only-call"

    async def __call__(self, call: Any, call_next: Any) -> Any:
        return await call_next(call)


class CoroutineStream(Middleware):
    name = "coroutine-stream"

    async def stream(self, call: Any, call_next: Any) -> Any:  # type: ignore[override]
        return call_next(call)


class Unary(OnlyCall):
    name, unary_only = "unary", True


class Scrub(Middleware):
    """Replaces a secret word in what is sent; optionally in what is stored too."""

    name, order = "scrub", 700

    def __init__(self, *, store: bool = False) -> None:
        self.stores_rewrite = store

    async def rewrite(self, call: Call) -> Call:
        messages = [
            m.model_copy(
                update={
                    "parts": [p.model_copy(update={"text": p.text.replace("hunter2", "[secret]")}) for p in m.parts]
                }
            )
            if m.role == "user"
            else m
            for m in call.request.messages
        ]
        return call.with_request(call.request.model_copy(update={"messages": messages}))


class Count(Middleware):
    name, order = "count", 600

    def __init__(self) -> None:
        self.calls = 0

    async def rewrite(self, call: Call) -> Call:
        self.calls += 1
        return call


@pytest.mark.parametrize("layer", [OnlyCall(), CoroutineStream()])
async def test_a_layer_that_would_fail_or_be_passed_by_is_refused_at_registration(layer: Middleware) -> None:
    with pytest.raises(ConfigurationError, match=layer.name):
        make_ai(middleware=[layer])
    with make_ai() as ai, pytest.raises(ConfigurationError, match=layer.name):
        ai.conversation("fake/echo").middleware(layer)


async def test_unary_only_is_a_choice_not_an_accident() -> None:
    async with make_ai(middleware=[Unary()]) as ai:
        assert (await ai.conversation("fake/echo").user("hi").asend()).text == "Echo: hi"


async def test_rewrite_applies_to_sent_and_streamed_calls_and_storage_keeps_the_original() -> None:
    fake = FakeDriver()
    async with make_ai(fake=fake, middleware=[Scrub()]) as ai:
        chat = ai.conversation("fake/echo")
        await chat.user("my password is hunter2").asend()
        streamed = [e async for e in chat.user("again hunter2").astream() if isinstance(e, TextDelta)]
        stored = await ai.services.store.load(chat.id)
    assert [r.messages[-1].text for r in fake.calls] == ["my password is [secret]", "again [secret]"]
    assert "".join(e.text for e in streamed) == "Echo: again [secret]"
    assert stored is not None and stored.messages[0].text == "my password is hunter2"


async def test_a_layer_may_choose_to_store_its_rewrite(tmp_path: Path) -> None:
    async with AI(database_url=f"sqlite:///{tmp_path / 'ai.db'}", middleware=[Scrub(store=True)]) as ai:
        chat = ai.conversation("fake/echo")
        await chat.user("my password is hunter2").asend()
        stored = await ai.services.store.load(chat.id)
    assert stored is not None and stored.messages[0].text == "my password is [secret]"
    assert all("hunter2" not in m.text for m in stored.messages)


async def test_per_conversation_layers_and_skips() -> None:
    installed, mine = Count(), Count()
    async with make_ai(middleware=[installed]) as ai:
        await ai.conversation("fake/echo").middleware(mine).user("a").asend()
        await ai.conversation("fake/echo").user("b").asend()
        await ai.conversation("fake/echo").without_middleware("count").user("c").asend()
        assert (installed.calls, mine.calls) == (2, 1)
        with pytest.raises(ConfigurationError, match="budgets"):
            ai.conversation("fake/echo").without_middleware("budget")
        with pytest.raises(ConfigurationError, match="no middleware named 'nope'"):
            ai.conversation("fake/echo").without_middleware("nope")


async def test_callbacks_run_in_line() -> None:
    fake = FakeDriver()
    seen: list[Any] = []

    async def record(response: Any) -> None:
        seen.append(("ok", response.text))

    async with make_ai(fake=fake) as ai:
        chat = (
            ai.conversation("fake/echo")
            .before_send(lambda request: request.model_copy(update={"temperature": 0.25}))
            .before_send(lambda request: seen.append(("sent", request.temperature)))
            .on_success(record)
        )
        await chat.user("hi").asend()
        _ = [e async for e in chat.user("streamed").astream()]
    assert fake.calls[0].temperature == 0.25
    assert seen == [("sent", 0.25), ("ok", "Echo: hi"), ("sent", 0.25), ("ok", "Echo: streamed")]


async def test_on_error_sees_the_error_and_the_caller_still_gets_it() -> None:
    fake = FakeDriver.scripted([RateLimitError("slow", provider="fake", retry_after=0)] * 5)
    errors: list[BaseException] = []

    def broken_callback(error: BaseException) -> None:
        raise ValueError("a callback that fails does not hide the error")

    async with make_ai(fake=fake) as ai:
        chat = ai.conversation("fake/echo").on_error(errors.append).on_error(broken_callback)
        with pytest.raises(RateLimitError):
            await chat.user("hi").asend()
    assert [type(e).__name__ for e in errors] == ["RateLimitError"]


async def test_a_before_send_callback_can_stop_the_call() -> None:
    fake = FakeDriver()

    def refuse(request: Any) -> None:
        raise PermissionError("not now")

    async with make_ai(fake=fake) as ai:
        with pytest.raises(PermissionError):
            await ai.conversation("fake/echo").before_send(refuse).user("hi").asend()
    assert fake.calls == []
