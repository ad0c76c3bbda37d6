"""Secrets never survive on an error, in a log line or in the CLI's output.

A provider that echoes the key back (some do, in 401 bodies and in SSE error
events) is played by the local OpenAI-compatible server; every attribute, the
args, notes, ``str`` and ``repr`` of the resulting error are searched for the
key. Redaction itself must be safe: remembering a common word must never blank
it in ordinary text (a suite run once failed with "Invalid value for '***'").
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers.fixtures import _openai_server_session, driver_config, openai_server  # noqa: F401
from servers.openai_compat import Completion, ErrorReply, Fault, OpenAICompatServer, RawReply

from ai_core import errors, redaction
from ai_core.logging import configure_logging, get_logger, parse_level
from ai_core.redaction import REDACTED, looks_like_secret, redact, remember_secret
from ai_core.types import ChatRequest, Message

# Not key-shaped (no sk-/xai-/AIza prefix): only the remembered value can catch it.
KEY = "proxyToken9f8e7d6c5b4a39281706"
# Key-shaped, never remembered: only its shape can catch it.
OTHER_KEY = "sk-proj-Zq8Xv2Lm5Nw7Pr4Ts1Uy0Bc"

# The children import the same ai-core as this process.
PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only() -> Iterator[None]:
    with redaction.isolated_secrets():
        yield


def strings_in(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string reachable from ``value`` (attributes, items, args, notes)."""
    if depth > 12:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings_in(key, depth + 1)
            yield from strings_in(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings_in(item, depth + 1)
    elif isinstance(value, BaseException):
        yield str(value)
        yield repr(value)
        yield from strings_in(value.args, depth + 1)
        yield from strings_in(getattr(value, "__notes__", []), depth + 1)
        yield from strings_in(vars(value), depth + 1)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        yield from strings_in(vars(value), depth + 1)


def assert_clean(error: BaseException, *secrets: str) -> None:
    found = [text for text in strings_in(error) for secret in secrets if secret in text]
    assert not found, f"{type(error).__name__} still carries a secret: {found}"


# ---------------------------------------------------------------- errors from a provider that echoes the key


def request() -> ChatRequest:
    return ChatRequest(provider="openai", model="gpt-4o-mini", messages=[Message.user("Hi")])


@pytest.fixture
def server(openai_server: OpenAICompatServer) -> OpenAICompatServer:  # noqa: F811
    """The local OpenAI-compatible server, reset for this test."""
    return openai_server


@pytest.fixture
async def echo_driver(server: OpenAICompatServer) -> Any:
    from pydantic import SecretStr

    from ai_openai.driver import OpenAIDriver

    driver = OpenAIDriver(driver_config(server, api_key=SecretStr(KEY), retry_attempts=0))
    yield driver
    await driver.aclose()


def echoing(status: int = 401) -> ErrorReply:
    return ErrorReply(
        status,
        f"Incorrect API key provided: {KEY} (also seen: {OTHER_KEY})",
        "invalid_request_error",
        code=KEY,
        param=OTHER_KEY,
    )


async def call(driver: Any, streaming: bool) -> BaseException:
    with pytest.raises(errors.ProviderError) as caught:
        if streaming:
            async for _ in driver.stream(request()):
                pass
        else:
            await driver.send(request())
    return caught.value


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("status", [400, 401, 403, 429, 500])
async def test_error_bodies_echoing_the_key_are_redacted_everywhere(
    echo_driver: Any,
    server: OpenAICompatServer,
    streaming: bool,
    status: int,
) -> None:
    server.reply(echoing(status))
    error = await call(echo_driver, streaming)
    assert error.status_code == status  # type: ignore[attr-defined]
    assert error.code == REDACTED  # type: ignore[attr-defined]
    assert error.body["error"]["param"] == REDACTED  # type: ignore[attr-defined]
    assert_clean(error, KEY, OTHER_KEY)


@pytest.mark.anyio
@pytest.mark.parametrize("sse_event", [None, "error"])
async def test_sse_error_event_echoing_the_key_is_redacted(
    echo_driver: Any,
    server: OpenAICompatServer,
    sse_event: str | None,
) -> None:
    server.reply(Completion(text="partial answer", fault=Fault.error_event(2, echoing(), sse_event=sse_event)))
    error = await call(echo_driver, streaming=True)
    assert_clean(error, KEY, OTHER_KEY)


@pytest.mark.anyio
async def test_a_raw_body_echoing_the_key_is_redacted(echo_driver: Any, server: OpenAICompatServer) -> None:
    body = f"<html>bad key {KEY} / {OTHER_KEY}</html>".encode()
    server.reply(RawReply(status=401, body=body, content_type="text/html"))
    error = await call(echo_driver, streaming=False)
    assert_clean(error, KEY, OTHER_KEY)


# ---------------------------------------------------------------- every attribute of every error


class Pair(NamedTuple):
    name: str
    value: str


PROVIDER_ERRORS = [
    cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.ProviderError)
]


@pytest.mark.parametrize("cls", PROVIDER_ERRORS, ids=lambda cls: cls.__name__)
def test_every_provider_error_redacts_every_attribute(cls: type[errors.ProviderError]) -> None:
    remember_secret(KEY)
    own = {"limit": f"limit {KEY}"} if cls is errors.RateLimitReachedError else {}  # its own required field
    error = cls(
        f"bad {KEY}",
        **own,
        provider="p",
        status_code=401,
        code=KEY,
        request_id=f"req-{OTHER_KEY}",
        body={
            "error": {"message": KEY, "api_key": "anything", "nested": [KEY, (OTHER_KEY,), {KEY}]},
            "raw": KEY.encode(),
            "pair": Pair("k", KEY),
        },
    )
    error.extra = {"later": KEY}  # type: ignore[attr-defined]
    error.args = (KEY, OTHER_KEY)
    error.add_note(f"note {KEY}")
    assert_clean(error, KEY, OTHER_KEY)
    assert error.body["raw"] == REDACTED.encode()
    assert error.body["pair"] == Pair("k", REDACTED)
    assert error.body["error"]["api_key"] == REDACTED


def test_other_errors_redact_their_attributes() -> None:
    remember_secret(KEY)
    made = [
        errors.ConfigurationError(f"key {KEY}"),
        errors.PluginLoadError("p", None, f"failed with {KEY}"),
        errors.RequestValidationError(f"bad {KEY}", [{"loc": ("api_key",), "input": KEY, "msg": KEY}]),
        errors.CredentialError(f"cannot read {OTHER_KEY}"),
        errors.StorageError(f"db {KEY}", database=f"postgresql://u:{KEY}@h/db"),
        errors.ToolLoopError(KEY),
    ]
    for error in made:
        assert_clean(error, KEY, OTHER_KEY)


def test_a_secret_remembered_after_the_error_was_made_is_blanked_when_shown() -> None:
    late = "lateKey0123456789abcdef"
    error = errors.AuthenticationError(f"rejected {late}", provider="p")
    remember_secret(late)
    assert late not in str(error) and late not in repr(error)


def test_redaction_keeps_error_data_that_is_not_text() -> None:
    error = errors.RateLimitError("slow down", provider="p", status_code=429, retry_after=1.5, body={"n": 3})
    assert (error.retry_after, error.status_code, error.body) == (1.5, 429, {"n": 3})
    assert error.retryable


# ---------------------------------------------------------------- remembering secrets is safe


@pytest.mark.parametrize(
    "value",
    [
        "temperature",
        "invalid_request_error",
        "Incorrect API key provided",
        "short1",
        "abc123",
        "",
        None,
        "a b c 1 2 3 4 5 6 7 8",
        "ContextLengthExceededError",
    ],
)
def test_values_that_do_not_look_like_keys_are_not_remembered(value: str | None) -> None:
    assert remember_secret(value) is False
    text = f"Invalid value for '{value}'. ContextLengthExceededError: invalid_request_error"
    assert redact(text) == text


def test_the_suite_order_bug_stays_fixed(server: OpenAICompatServer) -> None:
    """An earlier test stored 'temperature' as a credential; later error messages read "Invalid value for '***'"."""
    for word in ("temperature", "Invalid", "value", "request"):
        remember_secret(word)
    reply = ErrorReply.bad_request()
    error = errors.InvalidRequestError(reply.message, provider="openai", code=reply.code, body=reply.body())
    assert "Invalid value for 'temperature'." in str(error)
    assert error.body["error"]["param"] == "temperature"


@pytest.mark.parametrize("value", [KEY, "0123456789abcdef0123", "550e8400-e29b-41d4-a716-446655440000"])
def test_key_like_values_are_remembered(value: str) -> None:
    assert remember_secret(value) is True
    assert redact(f"x {value} y") == f"x {REDACTED} y"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_remembering_never_blanks_ordinary_words(value: str) -> None:
    with redaction.isolated_secrets():
        remembered = remember_secret(value)
        assert remembered == looks_like_secret(value)
        sentence = "Invalid value for 'temperature' in request 42"
        if remembered:
            assert len(value) >= redaction.MIN_SECRET_LENGTH and value not in redact(f"<{value}>")
        else:
            assert redact(sentence) == sentence


def test_isolated_secrets_forgets_what_was_remembered_inside() -> None:
    inside = "scopedKey0123456789abc"
    with redaction.isolated_secrets():
        remember_secret(inside)
        assert inside not in redact(inside)
    assert redact(inside) == inside


# ---------------------------------------------------------------- logging: levels and no secret at any level


@pytest.fixture
def ai_core_logger() -> Iterator[logging.Logger]:
    """configure_logging changes process-wide loggers: put them back afterwards."""
    names = ("ai_core", "httpx", "httpcore")
    saved = {
        n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
        for n in names
    }
    yield logging.getLogger("ai_core")
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.mark.parametrize(
    ("given", "expected"),
    [("debug", 10), ("INFO", 20), (" Warning ", 30), ("warn", 30), ("error", 40), ("critical", 50), (15, 15)],
)
def test_parse_level(given: str | int, expected: int) -> None:
    assert parse_level(given) == expected


def test_an_unknown_level_is_a_configuration_error() -> None:
    with pytest.raises(errors.ConfigurationError, match="'loud' is not a log level: use one of debug"):
        parse_level("loud", "AI_LOG_LEVEL")


def test_no_secret_in_any_log_line_at_debug(ai_core_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    remember_secret(KEY)
    configure_logging("debug", libraries=True)
    get_logger("ai_core.test").debug("calling", api_key=KEY, url=f"https://x/?key={KEY}", note=OTHER_KEY)
    logging.getLogger("ai_core.test.stdlib").debug("raw %s and %s", KEY, OTHER_KEY)
    logging.getLogger("httpx").debug("headers: Authorization: Bearer %s", KEY)
    try:
        raise RuntimeError(f"boom {KEY}")
    except RuntimeError:
        logging.getLogger("ai_core.test").exception("failed")
    err = capsys.readouterr().err
    assert "DEBUG ai_core.test" in err and "boom ***" in err and "Traceback" in err
    assert KEY not in err and OTHER_KEY not in err


def test_configure_logging_twice_adds_one_handler(ai_core_logger: logging.Logger) -> None:
    configure_logging("info")
    configure_logging("debug")
    assert ai_core_logger.level == logging.DEBUG
    assert len([h for h in ai_core_logger.handlers if type(h).__name__ == "_StderrHandler"]) == 1


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **PYTHONPATH, "HOME": env.get("AI_DATA_DIR", "/tmp")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("level", [None, "info", "debug"])
def test_ai_log_level_is_applied_by_the_library(tmp_path: Path, level: str | None) -> None:
    code = (
        "from ai_core.logging import get_logger\n"
        f"get_logger('ai_core.demo').info('visible', api_key={KEY!r}, text='key {KEY}')\n"
    )
    env = {"AI_DATA_DIR": str(tmp_path), "AI_OPENAI_API_KEY": KEY}
    if level:
        env["AI_LOG_LEVEL"] = level
    done = _python(code, env)
    assert done.returncode == 0, done.stderr
    assert ("visible" in done.stderr) == (level is not None)
    assert KEY not in done.stderr


CLI = "from ai_core.cli import main; main()"


@pytest.mark.parametrize(
    ("flags", "env_level"),
    [
        (["-vv"], None),
        (["-vvv"], None),
        (["--log-level", "debug"], None),
        (["--log-level", "DEBUG", "-v"], None),
        ([], "debug"),
    ],
    ids=["-vv", "-vvv", "--log-level", "both", "AI_LOG_LEVEL"],
)
def test_cli_at_debug_shows_what_happens_and_never_the_key(
    server: OpenAICompatServer,
    tmp_path: Path,
    flags: list[str],
    env_level: str | None,
) -> None:
    """The key is in the environment, the provider echoes it in its 401: no line at DEBUG contains it."""
    server.reply(echoing(401))
    env = {
        "AI_DATA_DIR": str(tmp_path),
        "AI_CONFIG_FILE": str(tmp_path / "absent.toml"),
        "AI_OPENAI_API_KEY": KEY,
        "AI_OPENAI_BASE_URL": server.base_url,
        "AI_OPENAI_RETRY_ATTEMPTS": "0",
    }
    if env_level:
        env["AI_LOG_LEVEL"] = env_level
    args = [*flags, "chat", "--no-persist", "-m", "openai/gpt-4o-mini", "hello"]
    done = _python(f"import sys; sys.argv = ['ai', *{args!r}]; {CLI}", env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "DEBUG ai_core.cli event='cli.start'" in done.stderr
    assert "Incorrect API key provided: ***" in done.stderr
    assert KEY not in output and OTHER_KEY not in output


def test_cli_default_level_prints_only_the_error(server: OpenAICompatServer, tmp_path: Path) -> None:
    server.reply(echoing(401))
    env = {
        "AI_DATA_DIR": str(tmp_path),
        "AI_CONFIG_FILE": str(tmp_path / "absent.toml"),
        "AI_OPENAI_API_KEY": KEY,
        "AI_OPENAI_BASE_URL": server.base_url,
        "AI_OPENAI_RETRY_ATTEMPTS": "0",
    }
    done = _python(
        f"import sys; sys.argv = ['ai', 'chat', '--no-persist', '-m', 'openai/gpt-4o-mini', 'x']; {CLI}", env
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: openai: Incorrect API key provided: ***")
    assert KEY not in done.stderr
