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


def test_every_type_and_error_is_exported_from_the_top() -> None:
    # ai_core/__init__.py lists these names again so that importing ai_core stays lazy.
    import ai_core.errors
    import ai_core.types

    missing = (set(ai_core.types.__all__) | set(ai_core.errors.__all__)) - set(ai_core.__all__)
    assert not missing


def test_budget_error_shows_plain_money() -> None:
    from decimal import Decimal

    error = ai_core.BudgetExceededError(
        "tiny", limit=Decimal("0.00001"), spent=Decimal("0E-18"), requested=Decimal("0.000080")
    )
    assert str(error) == (
        "budget 'tiny' exceeded: limit 0.00001 USD, spent 0, this request needs up to 0.00008, over by 0.00007"
    )
