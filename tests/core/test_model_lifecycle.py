"""Model lifecycle: shut-down models refused before sending, deprecated ones warned about once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from ai_core import default_registry
from ai_core.errors import ModelShutDownError, RequestValidationError
from ai_core.hookspecs import hookimpl
from ai_core.pipeline.lifecycle import check_lifecycle, find_model
from ai_core.testing import fake_ai, fake_registry, make_fake
from ai_core.types import ModelInfo

TODAY = date.today()


class _Lifecycle:
    """A plugin listing fake models at each stage of their life."""

    @hookimpl
    def register_models(self, register: Callable[[Any], None]) -> None:
        register(ModelInfo(provider="fake", id="old", deprecated_on=TODAY - timedelta(days=30),
                           shutdown_on=TODAY + timedelta(days=30), replacement="echo"))  # fmt: skip
        register(ModelInfo(provider="fake", id="gone", aliases=("gone-latest",), shutdown_on=TODAY,
                           replacement="echo"))  # fmt: skip
        register(ModelInfo(provider="fake", id="later", deprecated_on=TODAY + timedelta(days=1)))


def _registry() -> Any:
    return fake_registry(("lifecycle", _Lifecycle()))


@pytest.mark.anyio
async def test_a_model_past_its_shutdown_is_refused_before_sending_naming_the_replacement() -> None:
    fake = make_fake("never sent", provider="openai")
    async with fake_ai(fake, registry=default_registry()) as ai:
        with pytest.raises(ModelShutDownError) as caught:
            await ai.conversation("openai/o1").user("hello").asend()
        with pytest.raises(RequestValidationError, match="use openai/gpt-5-mini instead"):
            await ai.conversation("openai/o4-mini-2025-04-16").user("hello").asend()  # its dated snapshot too
    assert str(caught.value) == "openai/o1 was shut down by its provider on 2026-10-23; use openai/o3 instead"
    assert (caught.value.shutdown_on, caught.value.replacement) == (date(2026, 10, 23), "openai/o3")
    assert fake.calls == []


@pytest.mark.anyio
async def test_shutdown_day_itself_is_refused_and_aliases_share_the_lifecycle() -> None:
    async with fake_ai(registry=_registry()) as ai:
        for model in ("fake/gone", "fake/gone-latest"):
            with pytest.raises(ModelShutDownError, match=f"{model} was shut down .* use fake/echo instead"):
                await ai.conversation(model).user("hello").asend()
        assert ai.providers is not None


def test_the_day_before_shutdown_is_allowed() -> None:
    check_lifecycle(_registry(), "fake", "gone", today=TODAY - timedelta(days=1))


@pytest.mark.anyio
async def test_a_deprecated_model_logs_a_warning_once(caplog: pytest.LogCaptureFixture) -> None:
    async with fake_ai(registry=_registry()) as ai:
        with caplog.at_level(logging.WARNING, logger="ai_core"):
            for _ in range(3):
                reply = await ai.conversation("fake/old").user("hello").asend()
                assert reply.text
            await ai.conversation("fake/later").user("hello").asend()  # not deprecated yet
            await ai.conversation("fake/echo").user("hello").asend()
    warnings = [record.getMessage() for record in caplog.records if "model_deprecated" in record.getMessage()]
    assert len(warnings) == 1, warnings
    assert "fake/old" in warnings[0] and "fake/echo" in warnings[0]


def test_status_of_each_stage() -> None:
    registry = _registry()
    statuses = {m: find_model(registry, "fake", m).status(TODAY) for m in ("old", "gone", "later", "echo")}  # type: ignore[union-attr]
    assert statuses == {"old": "deprecated", "gone": "shut down", "later": "active", "echo": "active"}
    assert find_model(registry, "fake", "gone-latest").id == "gone"  # type: ignore[union-attr]
    assert find_model(registry, "fake", "gone-2026-01-01").id == "gone"  # type: ignore[union-attr]
    assert find_model(registry, "fake", "missing") is None


def test_ai_models_shows_each_models_status(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import json

    from click.testing import CliRunner

    from ai_core.cli import cli

    monkeypatch.setenv("AI_DATA_DIR", str(tmp_path))
    text = CliRunner().invoke(cli, ["models", "-p", "openai"])
    assert text.exit_code == 0, text.output
    line = next(line for line in text.output.splitlines() if line.startswith("openai/o1 "))
    assert line.endswith("shut down (since 2026-10-23; use o3)")
    listed = json.loads(CliRunner().invoke(cli, ["models", "-p", "xai", "--json"]).output)
    status = {entry["id"]: entry["status"] for entry in listed}
    assert status["grok-4.3"] == "active" and status["grok-3"] == "retired"
    priced_by = {entry["id"]: entry["priced_by"] for entry in listed}
    assert priced_by["grok-3"].startswith("grok-4.3@2026-04-30 ")  # retired: billed at the serving model's row
