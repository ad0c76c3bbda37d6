"""Every public name resolves, and nothing else is relied on (cf. httpx's test_exported_members)."""

from __future__ import annotations

import ai_core


def test_every_exported_name_resolves() -> None:
    for name in ai_core.__all__:
        assert getattr(ai_core, name) is not None, name


def test_exported_classes_and_functions_are_ai_cores_own() -> None:
    import inspect

    for name in ai_core.__all__:
        value = getattr(ai_core, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith("ai_core"), (name, value.__module__)


def test_unknown_names_raise_attribute_error() -> None:
    try:
        ai_core.DefinitelyNotAName  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "DefinitelyNotAName" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
