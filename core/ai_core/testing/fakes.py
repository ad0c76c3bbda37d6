"""Wire the built-in fake into an ``AI`` for an application's own tests.

    fake = FakeDriver.scripted(["Paris."])
    ai = fake_ai(fake)
    assert ai.conversation("fake/echo").user("Capital of France?").send().text == "Paris."
    assert_called(fake, times=1, last_user_text="Capital of France?")

or, on an ``AI`` the application already built:

    with override_provider(app.ai, "openai", ["Hi!"]) as fake:
        run_the_feature()
    assert_called(fake, model="gpt-4o-mini")

Both go through the whole pipeline (middleware, cost, events) and differ from
production only in the driver, which is the point: patching internals tests
the patch, not the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.drivers.base import Driver
    from ai_core.drivers.fake import FakeDriver, Reply
    from ai_core.plugins import PluginRegistry

__all__ = ["fake_ai", "fake_registry", "make_fake", "override_provider"]


def make_fake(replies: Iterable[Reply] | None = None, *, provider: str = "fake") -> FakeDriver:
    """An echo fake (``replies=None``) or one scripted with ``replies``, in order.

    ``provider`` is the name responses carry, so a fake standing in for
    ``openai`` is priced with OpenAI's prices when its plugin is installed.
    """
    from ai_core.drivers.base import ProviderConfig
    from ai_core.drivers.fake import FakeDriver

    if replies is None:
        return FakeDriver(ProviderConfig(provider=provider))
    if isinstance(replies, str):  # one reply, not a script of characters
        replies = [replies]
    return FakeDriver.scripted(replies, provider=provider)


def fake_registry(*plugins: tuple[str, object]) -> PluginRegistry:
    """Core's own plugins (default cost table, the fake's model and price) plus
    ``plugins``, built from explicit objects: no entry points, so what other
    packages happen to be installed cannot change a test's outcome."""
    from ai_core import builtin
    from ai_core.drivers import fake_plugin
    from ai_core.plugins import PluginRegistry

    return PluginRegistry(plugins=[("core", builtin), ("fake", fake_plugin), *plugins])


def fake_ai(
    driver: Driver | Mapping[str, Driver] | Iterable[Reply] | str | None = None,
    *,
    provider: str | None = None,
    registry: PluginRegistry | None = None,
    **ai_options: Any,
) -> AI:
    """An ``AI`` without persistence whose providers are fakes.

    :param driver: a driver (serving ``provider``, default the driver's own
        provider name); a mapping of provider name to
        driver for several; replies to script a new fake with; ``None`` for an
        echo fake. Reach a driver made here with ``ai.providers.driver``.
    :param registry: plugins to load; default :func:`fake_registry` (core and
        the fake only). Pass ``ai_core.default_registry()`` to price fakes that
        stand in for installed providers.
    :param ai_options: passed to :class:`ai_core.AI` (``middleware``,
        ``listeners``, ``budgets``, ``default_model``, ...).
    """
    from ai_core.app import AI
    from ai_core.drivers.base import Driver

    if isinstance(driver, Mapping):
        drivers = dict(driver)
    elif isinstance(driver, Driver):
        drivers = {provider or driver.provider: driver}
    else:
        drivers = {provider or "fake": make_fake(driver, provider=provider or "fake")}
    ai_options.setdefault("persistence", False)
    if "default_model" not in ai_options and "settings" not in ai_options and "fake" in drivers:
        ai_options["default_model"] = "fake/echo"
    return AI(drivers=drivers, registry=registry or fake_registry(), **ai_options)


@contextmanager
def override_provider(ai: AI, provider: str, driver: Driver | Iterable[Reply] | str | None = None) -> Iterator[Driver]:
    """Serve ``provider`` on an existing ``AI`` from a fake inside the block.

    :param driver: the stand-in driver; replies to script a new fake with; or
        ``None`` for an echo fake. The block receives the driver, so a test can
        assert on ``fake.calls`` afterwards.
    """
    from ai_core.drivers.base import Driver

    stand_in = driver if isinstance(driver, Driver) else make_fake(driver, provider=provider)
    restore = ai.providers.override(provider, stand_in)
    try:
        yield stand_in
    finally:
        restore()
