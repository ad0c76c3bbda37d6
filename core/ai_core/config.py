"""Configuration from the environment and an optional TOML file.

Precedence, highest first: values given to :class:`ai_core.AI` (or to one
conversation) at run time, then ``AI_*`` environment variables, then the
ecosystem's own variables (``OPENAI_API_KEY``), then the config file
(``AI_CONFIG_FILE`` or ``<config dir>/ai-core/config.toml``), then stored
credentials. Per-provider settings are read by name at resolution time, so a
provider installed later needs no change here.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ai_core.integrations.settings import NotificationSettings, WebhookEndpoint
from ai_core.mcp.config import MCPSettings
from ai_core.queue.settings import QueueSettings

__all__ = ["ProviderSettings", "Settings", "default_config_file", "default_data_dir", "load_settings"]


def default_data_dir() -> Path:
    override = os.environ.get("AI_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("ai-core", appauthor=False))


def default_config_file() -> Path:
    override = os.environ.get("AI_CONFIG_FILE")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("ai-core", appauthor=False)) / "config.toml"


class ProviderSettings(BaseModel):
    """One provider's settings as found in the environment or config file."""

    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout: float | None = Field(None, gt=0)
    stream_idle_timeout: float | None = Field(None, gt=0)
    total_timeout: float | None = Field(None, gt=0)
    retry_attempts: int | None = Field(None, ge=0, le=20)


_F = TypeVar("_F", bound=Callable[..., ProviderSettings])


def _names_provider_variables(method: _F) -> _F:
    """Turn a provider's invalid value into a ConfigurationError naming ``AI_<P>_<FIELD>`` or the file key."""

    @functools.wraps(method)
    def wrapper(self: Settings, name: str, *args: Any, **kwargs: Any) -> ProviderSettings:
        try:
            return method(self, name, *args, **kwargs)
        except ValidationError as exc:
            prefix = f"AI_{name.upper().replace('-', '_')}_"

            def source(field: str) -> str:
                variable = prefix + field.upper()
                if os.environ.get(variable):
                    return variable
                return f"[providers.{name}] {field} in {default_config_file()}"

            raise _configuration_error(exc, source) from None

    return wrapper  # type: ignore[return-value]


class Settings(BaseSettings):
    """Process-wide settings. ``AI_`` prefixed environment variables override the file."""

    model_config = SettingsConfigDict(env_prefix="AI_", extra="ignore")

    default_model: str = "fake/echo"
    database_url: str | None = None
    persistence: bool = True
    plugins: str | None = Field(None, description="comma-separated plugin names to load; empty or 'none' loads none")
    data_dir: Path = Field(default_factory=default_data_dir)
    encryption_key: SecretStr | None = None
    key_file: Path | None = None
    timeout: float = Field(60.0, gt=0, description="seconds to wait for a response to start, streamed or not")
    stream_idle_timeout: float | None = Field(
        None, gt=0, description="seconds between stream chunks; default: the provider's timeout"
    )
    total_timeout: float = Field(600.0, gt=0, description="seconds one provider call may take in all")
    budget_hold_lease: float = Field(
        900.0, gt=0, description="seconds after which a budget hold left by a dead process is expired"
    )
    retry_attempts: int = Field(2, ge=0, le=20)
    cost_tolerance: Decimal = Field(
        Decimal("0.01"), ge=0, description="a reported cost may differ from the computed one by this fraction"
    )
    tool_rounds: int = Field(8, ge=1, le=100, description="most model->tool->model rounds per send")
    log_level: str = Field("warning", description="debug, info, warning, error or critical")
    db_busy_timeout: float = Field(
        30.0, gt=0, description="seconds an SQLite write waits for another process's lock before failing"
    )
    http_transport: str | None = Field(None, description="module:callable returning an httpx transport")
    budgets: list[dict[str, Any]] = Field(default_factory=list)
    conversation_retention_days: int | None = Field(None, ge=1, description="age at which cleanup acts")
    cleanup_action: Literal["archive", "delete"] = "archive"
    providers: dict[str, ProviderSettings] = Field(default_factory=dict, description="from the config file")
    mcp: MCPSettings = Field(default_factory=MCPSettings, description="[mcp]: servers and timeouts (docs/mcp.md)")
    listeners_disabled: str | None = Field(None, description="comma-separated listener names not to run")
    webhooks: list[WebhookEndpoint] = Field(default_factory=list, description="[[webhooks]] endpoints")
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    cost_anomaly_detection: bool = Field(
        False, description="emit CostAnomalyDetected (also on when a notification or webhook asks for it)"
    )
    cost_anomaly_threshold: Decimal = Field(
        Decimal(10), gt=1, description="a call costing this many times the recent average is an anomaly"
    )
    cost_anomaly_window: int = Field(50, ge=2, le=10_000, description="recent calls the average is taken over")
    otel_capture_content: bool = Field(False, description="put prompts and answers on OpenTelemetry spans")
    policies: list[dict[str, Any]] = Field(
        default_factory=list, description="request validation policies per tenant/user (docs/security.md)"
    )
    pii: dict[str, Any] = Field(default_factory=dict, description="the PII filter: enabled, detectors, redact, store")
    audit: bool = Field(False, description="append a hash-chained audit record for every model call")
    redis_url: SecretStr | None = Field(
        None, description="redis://host:port/db: rate limits, breakers and caches shared by every process"
    )
    rate_limits: list[dict[str, Any]] = Field(
        default_factory=list,
        description="requests/tokens per minute per provider, model, user or tenant (ai_core.scale.rules.RateLimit)",
    )
    rate_limit_wait: float = Field(
        10.0, ge=0, description="seconds a call held by a rate limit may wait for it; 0: refuse at once"
    )
    queue_url: SecretStr | None = Field(
        None, description="redis://host:port/db: listeners and jobs run on `ai worker` processes (docs/queue.md)"
    )
    queue_actions: str | None = Field(
        None, description="comma-separated modules `ai worker` imports to find agent actions (docs/actions.md)"
    )
    queue: QueueSettings = Field(default_factory=QueueSettings, description="[queue]: the task queue (docs/queue.md)")
    response_cache_ttl: float | None = Field(None, gt=0, description="cache every answer this many seconds")
    response_cache_size: int = Field(1000, ge=1, description="answers the in-memory response cache keeps")
    response_cache_fallback: bool = Field(
        False, description="answer from the response cache, even stale, when every provider of a call is down"
    )

    @field_validator("rate_limits", mode="after")
    @classmethod
    def _rate_limits(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ai_core.scale.rules import RateLimit

        return [RateLimit.model_validate(item).model_dump() for item in value]

    @field_validator("persistence", "cost_anomaly_detection", "otel_capture_content", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("off", "no", "false", "0", "disabled"):
            return False
        if isinstance(value, str) and value.strip().lower() in ("on", "yes", "true", "1", "enabled"):
            return True
        if isinstance(value, str):
            raise ValueError("must be on or off (or yes/no, true/false, 1/0)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> Any:
        from ai_core.logging import LEVEL_NAMES

        text = str(value).strip().lower()
        text = "warning" if text == "warn" else text
        if text not in LEVEL_NAMES:
            raise ValueError(f"must be one of {', '.join(LEVEL_NAMES)}")
        return text

    @field_validator("data_dir", mode="after")
    @classmethod
    def _directory(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError("names a file, not a directory")
        return value

    @field_validator("http_transport", mode="after")
    @classmethod
    def _importable(cls, value: str | None) -> str | None:
        if not value:
            return None
        module, _, attr = value.partition(":")
        if not module or not all(part.isidentifier() for part in [*module.split("."), attr or "transport"]):
            raise ValueError("must be module:callable, e.g. mypackage.transports:make_transport")
        import importlib.util

        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise ValueError(f"there is no module {module!r} to import")
        return value

    @_names_provider_variables
    def provider(self, name: str, extra_key_env: tuple[str, ...] = ()) -> ProviderSettings:
        """Settings for provider ``name``: environment first, then the file."""
        prefix = f"AI_{name.upper().replace('-', '_')}_"
        env = os.environ
        from_file = self.providers.get(name, ProviderSettings())
        key = env.get(prefix + "API_KEY") or next((env[v] for v in extra_key_env if env.get(v)), None)
        return ProviderSettings(
            api_key=SecretStr(key) if key else from_file.api_key,
            base_url=env.get(prefix + "BASE_URL") or from_file.base_url,
            timeout=_float(env.get(prefix + "TIMEOUT"), prefix + "TIMEOUT") or from_file.timeout,
            stream_idle_timeout=_float(env.get(prefix + "STREAM_IDLE_TIMEOUT"), prefix + "STREAM_IDLE_TIMEOUT")
            or from_file.stream_idle_timeout,
            total_timeout=_float(env.get(prefix + "TOTAL_TIMEOUT"), prefix + "TOTAL_TIMEOUT")
            or from_file.total_timeout,
            retry_attempts=_int(env.get(prefix + "RETRY_ATTEMPTS"), prefix + "RETRY_ATTEMPTS")
            if env.get(prefix + "RETRY_ATTEMPTS") is not None
            else from_file.retry_attempts,
        )

    def enabled_plugins(self) -> list[str] | None:
        """None loads every installed plugin; a list loads only those names."""
        if self.plugins is None:
            return None
        names = [n.strip() for n in self.plugins.split(",") if n.strip()]
        return [] if names in ([], ["none"]) else names


def _float(value: str | None, name: str) -> float | None:
    """A positive, finite number of seconds from variable ``name`` (0, negative, nan: an error)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not (0 < number < float("inf")):
        from ai_core.errors import ConfigurationError

        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}") from None
    return number


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        from ai_core.errors import ConfigurationError

        raise ConfigurationError(f"{name} must be a whole number, got {value!r}") from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the config file (if any), the environment, then ``overrides``.

    Any invalid value is a :class:`~ai_core.errors.ConfigurationError` of one
    line naming where it came from (``AI_TIMEOUT``, or ``timeout in <file>``)
    and what is expected.
    """
    path = default_config_file()
    data = _read_config_file(path)
    # Environment beats the file: pass file values as init values only where no env var is set.
    env_names = {k[3:].lower() for k in os.environ if k.startswith("AI_")}
    init = {k: v for k, v in data.items() if k not in env_names}
    given = {k: v for k, v in overrides.items() if v is not None}
    init.update(given)

    def source(field: str) -> str:
        if field in given:
            return field
        if field in env_names:
            return f"AI_{field.upper()}"
        return f"{field} in {path}"

    from pydantic_settings import SettingsError

    try:
        return Settings(**init)
    except ValidationError as exc:
        raise _configuration_error(exc, source) from None
    except SettingsError as exc:
        # pydantic-settings could not parse an environment value (JSON for lists and dicts).
        import re

        from ai_core.errors import ConfigurationError

        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else "?"
        raise ConfigurationError(
            f"{source(field)} is not valid JSON: it must be a JSON {_json_kind(field)}, or unset it"
        ) from None


def _read_config_file(path: Path) -> dict[str, Any]:
    from ai_core.errors import ConfigurationError

    if path.exists() and not path.is_file():
        raise ConfigurationError(f"config file {path} is not a file: point AI_CONFIG_FILE at a TOML file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"config file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None


def _json_kind(field: str) -> str:
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    origin = getattr(annotation, "__origin__", None)
    return "list" if origin is list else "object" if origin is dict else "value"


_SECRET_FIELDS = ("key", "secret", "password", "token")


def _configuration_error(exc: ValidationError, source: Callable[[str], str]) -> Exception:
    """One line from pydantic's errors: where each bad value came from, what it was, what is expected."""
    from ai_core.errors import ConfigurationError

    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        field = loc[0] if loc else "?"
        where = source(field) if len(loc) <= 1 else f"{source(field)} (at {'.'.join(loc[1:])})"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        shown = "" if any(word in ".".join(loc).lower() for word in _SECRET_FIELDS) else _shown(error.get("input"))
        problems.append(f"{where}{shown}: {message[:1].lower()}{message[1:]}")
    more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
    return ConfigurationError("invalid setting " + "; ".join(problems[:2]) + more + " (fix or remove it)")


def _shown(value: Any) -> str:
    if isinstance(value, Mapping | Sequence) and not isinstance(value, str):
        return ""
    text = repr(value)
    return f" = {text if len(text) <= 60 else text[:57] + '...'}"
