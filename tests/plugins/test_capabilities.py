"""Capabilities are declared once (the ProviderSpec) and enforced before any call.

Each driver here is a fake that records the requests it is sent, so "refused
before any call" is checked as "the driver saw nothing".
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from ai_core import builtin
from ai_core.app import AI
from ai_core.drivers.base import ProviderConfig, ProviderSpec
from ai_core.drivers.fake import FAKE_CAPABILITIES, FakeDriver
from ai_core.errors import RequestValidationError
from ai_core.hookspecs import hookimpl
from ai_core.plugins import PluginRegistry
from ai_core.types import Capabilities, ImagePart, StreamCompleted, ToolSpec

TEXT_ONLY = Capabilities(streaming=True, tools=False, vision=False, json_schema=False)
WEATHER = ToolSpec(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})
PNG = ImagePart(data=b"\x89PNG\r\n\x1a\n", media_type="image/png")
built: list[FakeDriver] = []


class City(BaseModel):
    city: str


def make_driver(config: ProviderConfig) -> FakeDriver:
    """A fake whose own class attribute claims every feature: the spec must win."""
    driver = FakeDriver(config)
    built.append(driver)
    return driver


class TextOnlyPlugin:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(ProviderSpec(name="plain", driver=make_driver, capabilities=TEXT_ONLY, requires_api_key=False))
        register(ProviderSpec(name="rich", driver=make_driver, capabilities=FAKE_CAPABILITIES, requires_api_key=False))


@pytest.fixture
def ai() -> Any:
    built.clear()
    registry = PluginRegistry(plugins=[("core", builtin), ("mine", TextOnlyPlugin())])
    ai = AI(persistence=False, registry=registry)
    yield ai
    ai.close()


def calls() -> int:
    return sum(len(driver.calls) for driver in built)


@pytest.mark.parametrize(
    ("setup", "named"),
    [
        (lambda chat: chat.tools([WEATHER]), "tools (get_weather)"),
        (lambda chat: chat.json(), "structured output (response_format json_object)"),
        (lambda chat: chat.output(City), "structured output (response_format json_schema)"),
    ],
    ids=["tools", "json", "output-model"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
def test_refused_before_any_call_when_the_spec_declares_none(ai: AI, setup: Any, named: str, streamed: bool) -> None:
    chat = setup(ai.conversation("plain/echo").user("Weather in Paris?"))
    with pytest.raises(RequestValidationError) as caught:
        if streamed:
            list(chat.stream())
        else:
            chat.send()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"plain/echo does not support {named}: provider 'plain' declares capabilities:")
    assert calls() == 0, "the driver was called although the request needs a feature it lacks"


def test_images_refused_and_the_error_lists_every_missing_feature(ai: AI) -> None:
    with pytest.raises(RequestValidationError) as caught:
        ai.conversation("plain/echo").tools([WEATHER]).json().user("What is this?", images=[PNG]).send()
    assert "tools (get_weather) or structured output (response_format json_object) or images" in str(caught.value)
    assert [e["loc"] for e in caught.value.errors] == [("tools",), ("structured",), ("images",)]
    assert calls() == 0


def test_the_spec_not_the_driver_class_is_the_declaration(ai: AI) -> None:
    """The fake's class claims tools; the spec says none, and core gives the driver the spec's."""
    assert ai.conversation("plain/echo").user("hello").send().text == "Echo: hello"
    [driver] = built
    assert FakeDriver.capabilities.tools and driver.capabilities == TEXT_ONLY


def test_a_spec_that_declares_tools_gets_them(ai: AI) -> None:
    chat = ai.conversation("rich/echo").tools([WEATHER]).user("hello")
    events = list(chat.stream())
    assert isinstance(events[-1], StreamCompleted)
    assert calls() == 1 and built[0].calls[0].tools == [WEATHER]


def test_a_driver_given_directly_is_taken_at_its_word() -> None:
    """``AI(drivers=...)`` has no spec in between: the driver's own attribute applies."""

    class NoTools(FakeDriver):
        capabilities = TEXT_ONLY

    driver = NoTools(ProviderConfig(provider="direct"))
    ai = AI(persistence=False, drivers={"direct": driver}, registry=PluginRegistry(plugins=[("core", builtin)]))
    try:
        with pytest.raises(RequestValidationError, match="direct/echo does not support tools"):
            ai.conversation("direct/echo").tools([WEATHER]).user("hi").send()
        assert driver.calls == []
        assert ai.conversation("direct/echo").user("hi").send().text == "Echo: hi"
    finally:
        ai.close()


def test_a_read_only_capabilities_property_is_a_plugin_error() -> None:
    from ai_core.errors import PluginLoadError
    from ai_core.pipeline.capabilities import build_driver

    class Fixed(FakeDriver):
        @property  # type: ignore[override]
        def capabilities(self) -> Capabilities:
            return FAKE_CAPABILITIES

    spec = ProviderSpec(name="fixed", driver=Fixed, capabilities=TEXT_ONLY)
    with pytest.raises(PluginLoadError, match="declare capabilities in the ProviderSpec only"):
        build_driver(spec, ProviderConfig(provider="fixed"))


def test_a_driver_given_for_a_registered_provider_is_checked_against_its_spec() -> None:
    """The spec stays the declaration when a test swaps the driver: a fake claiming tools for
    ``plain`` is still refused them, and one claiming none for ``rich`` still gets them."""

    class NoTools(FakeDriver):
        capabilities = TEXT_ONLY

    claims_all = FakeDriver(ProviderConfig(provider="plain"))
    claims_none = NoTools(ProviderConfig(provider="rich"))
    registry = PluginRegistry(plugins=[("core", builtin), ("mine", TextOnlyPlugin())])
    ai = AI(persistence=False, registry=registry, drivers={"plain": claims_all, "rich": claims_none})
    try:
        with pytest.raises(RequestValidationError, match="plain/echo does not support tools"):
            ai.conversation("plain/echo").tools([WEATHER]).user("hi").send()
        assert claims_all.calls == []
        ai.conversation("rich/echo").tools([WEATHER]).user("hi").send()
        assert claims_none.calls[0].tools == [WEATHER]
    finally:
        ai.close()
