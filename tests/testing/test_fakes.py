"""fake_ai, make_fake and override_provider: the whole pipeline, a fake driver."""

from __future__ import annotations

import pytest

from ai_core import AI, errors
from ai_core.drivers.fake import FakeDriver
from ai_core.testing import assert_called, fake_ai, fake_registry, make_fake, override_provider
from ai_core.types import StreamCompleted, TextDelta, ToolCallPart


def test_fake_ai_runs_scripted_replies_through_the_pipeline() -> None:
    fake = make_fake(["Paris.", "About 2.1 million."])
    with fake_ai(fake) as ai:
        chat = ai.conversation("fake/echo").system("Answer briefly.")
        first = chat.user("Capital of France?").send()
        second = chat.user("Population?").send()
    assert (first.text, second.text) == ("Paris.", "About 2.1 million.")
    assert first.cost is not None and first.cost.total is not None and first.cost.total > 0
    request = assert_called(fake, times=2, model="fake/echo", system="Answer briefly.", last_user_text="Population?")
    assert len(request.messages) == 3  # the history went with the second call


def test_scripted_fake_fails_loudly_when_out_of_replies() -> None:
    with fake_ai(["only one"]) as ai:
        chat = ai.conversation("fake/echo")
        chat.user("one").send()
        with pytest.raises(errors.ScriptExhaustedError):
            chat.user("two").send()


def test_a_single_string_is_one_reply_not_a_script_of_characters() -> None:
    with fake_ai("Hello") as ai:
        assert ai.conversation("fake/echo").user("hi").send().text == "Hello"


def test_default_fake_echoes_and_default_model_is_the_fake() -> None:
    with fake_ai() as ai:
        assert ai.conversation().user("ping").send().text == "Echo: ping"


def test_fake_ai_serves_several_providers() -> None:
    openai_fake, other_fake = make_fake(["from openai"], provider="openai"), make_fake(["from other"], provider="other")
    with fake_ai({"openai": openai_fake, "other": other_fake}) as ai:
        assert ai.conversation("openai/gpt-4o-mini").user("a").send().text == "from openai"
        reply = ai.conversation("other/m1").user("b").send()
    assert reply.text == "from other" and reply.provider == "other"
    assert reply.cost is not None and reply.cost.total is None  # unknown price stays unknown, never zero
    assert_called(openai_fake, times=1, model="openai/gpt-4o-mini")


def test_fake_standing_in_for_an_installed_provider_uses_its_prices() -> None:
    import ai_openai.plugin

    fake = make_fake(["Hi."], provider="openai")
    with fake_ai(fake, registry=fake_registry(("openai", ai_openai.plugin))) as ai:
        reply = ai.conversation("openai/gpt-4o-mini").user("hello").send()
    assert reply.cost is not None and reply.cost.total is not None and reply.cost.total > 0
    assert reply.cost.provider == "openai"


def test_scripted_tool_call_reaches_the_caller() -> None:
    from ai_core.types import ToolSpec

    call = ToolCallPart(id="call_1", name="get_weather", arguments={"city": "Paris"})
    fake = make_fake([[call]])
    spec = ToolSpec(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})
    with fake_ai(fake) as ai:
        reply = ai.conversation("fake/echo").tools([spec]).user("Weather?").send()
    assert reply.tool_calls == [call]
    assert_called(fake, tools=["get_weather"])


def test_override_provider_swaps_and_restores_without_patching() -> None:
    original = make_fake(["original"])
    ai = fake_ai(original)
    try:
        with override_provider(ai, "fake", ["stand-in"]) as stand_in:
            assert ai.conversation("fake/echo").user("x").send().text == "stand-in"
            with override_provider(ai, "fake") as echo:  # overrides nest
                assert ai.conversation("fake/echo").user("y").send().text == "Echo: y"
            assert_called(echo, times=1)
        assert_called(stand_in, times=1, last_user_text="x")
        assert ai.conversation("fake/echo").user("z").send().text == "original"
    finally:
        ai.close()


def test_override_provider_on_a_registry_provider_restores_normal_resolution() -> None:
    """A provider the AI would build from its plugin spec goes back to that after the block."""
    ai = AI(persistence=False, registry=fake_registry())
    try:
        with override_provider(ai, "fake", ["scripted"]) as fake:
            assert ai.conversation("fake/echo").user("q").send().text == "scripted"
        assert ai.conversation("fake/echo").user("q").send().text == "Echo: q"  # the spec's own driver
        assert isinstance(fake, FakeDriver) and len(fake.calls) == 1
    finally:
        ai.close()


def test_override_provider_restores_even_when_the_block_raises() -> None:
    ai = fake_ai(["kept"])
    try:
        with pytest.raises(RuntimeError), override_provider(ai, "fake", ["temporary"]):
            raise RuntimeError("boom")
        assert ai.conversation("fake/echo").user("q").send().text == "kept"
    finally:
        ai.close()


@pytest.mark.anyio
async def test_fake_ai_streams_on_both_backends() -> None:
    fake = make_fake(["one two three"])
    async with fake_ai(fake) as ai:
        events = [event async for event in ai.conversation("fake/echo").user("count").astream()]
    deltas = "".join(e.text for e in events if isinstance(e, TextDelta))
    final = events[-1]
    assert isinstance(final, StreamCompleted)
    assert deltas == final.response.text == "one two three"
    assert final.response.cost is not None and final.response.cost.total is not None


def test_fixtures_from_the_pytest_plugin(ai_fake: AI, fake_driver: FakeDriver) -> None:
    assert ai_fake.conversation("fake/echo").user("fixture").send().text == "Echo: fixture"
    assert_called(fake_driver, times=1, last_user_text="fixture")
