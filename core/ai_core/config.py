"""Configuration from the environment and an optional TOML file.

Precedence, highest first: values given to :class:`ai_core.AI` (or to one
conversation) at run time, then ``AI_*`` environment variables, then the
ecosystem's own variables (``OPENAI_API_KEY``), then the config file
(``AI_CONFIG_FILE`` or ``<config dir>/ai-core/config.toml``), then stored
credentials. Per-provider settings are read by name at resolution time, so a
provider installed later needs no change here.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    tool_rounds: int = Field(8, ge=1, le=100, description="most model->tool->model rounds per send")
    log_level: str = "WARNING"
    budgets: list[dict[str, Any]] = Field(default_factory=list)
    conversation_retention_days: int | None = Field(None, ge=1, description="age at which cleanup acts")
    cleanup_action: Literal["archive", "delete"] = "archive"
    providers: dict[str, ProviderSettings] = Field(default_factory=dict, description="from the config file")

    @field_validator("persistence", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("off", "no", "false", "0", "disabled"):
            return False
        if isinstance(value, str) and value.strip().lower() in ("on", "yes", "true", "1", "enabled"):
            return True
        return value

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
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        from ai_core.errors import ConfigurationError

        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}") from None


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        from ai_core.errors import ConfigurationError

        raise ConfigurationError(f"{name} must be a whole number, got {value!r}") from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the config file (if any), the environment, then ``overrides``."""
    path = default_config_file()
    data: dict[str, Any] = {}
    if path.is_file():
        from ai_core.errors import ConfigurationError

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
    # Environment beats the file: pass file values as init values only where no env var is set.
    env_names = {k[3:].lower() for k in os.environ if k.startswith("AI_")}
    init = {k: v for k, v in data.items() if k not in env_names}
    init.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**init)
