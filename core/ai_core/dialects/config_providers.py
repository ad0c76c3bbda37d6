"""Providers without code: a ``[providers.NAME]`` config-file section that names a dialect.

Any service that speaks a dialect core already has (vLLM, LM Studio, Ollama's
``/v1``, a hosted OpenAI-compatible API) needs no package::

    [providers.local]
    dialect = "openai-chat"
    base_url = "http://127.0.0.1:8000/v1"      # with the version prefix
    api_key_env = "LOCAL_LLM_KEY"              # leave out for a server without keys
    models = ["llama-3.1-8b"]                  # or [[providers.local.models]] tables

    [[providers.local.prices]]                 # as in a catalog.toml
    model = "llama-3.1-8b"
    effective_from = 2025-01-01
    input = "0"
    output = "0"

:meth:`ai_core.PluginRegistry.from_entry_points` registers each such section
as a plugin named ``config:NAME`` (``ai plugins`` lists it like any other); its
hooks build the provider, models and prices when they first run, with every
mistake a load error naming the file, the section and the key. Sections
without ``dialect`` are plain settings for an installed provider, as before.

Reading the file costs only ``tomllib``: ``ai --help`` builds the registry.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from ai_core.dialects.provider_hooks import CHAT_CAPABILITIES, OPENAI_CHAT_DRIVER
from ai_core.hookspecs import hookimpl

__all__ = ["DIALECTS", "SECTION_KEYS", "ConfigProvider", "config_file_path", "config_providers"]

DIALECTS: Mapping[str, str] = {"openai-chat": OPENAI_CHAT_DRIVER}
"""Dialect names a section may use, and the driver that speaks each."""

SECTION_KEYS: Mapping[str, str] = {
    "dialect": "the wire protocol: " + ", ".join(DIALECTS) + " (required)",
    "base_url": "where the API lives, with its version prefix, e.g. http://127.0.0.1:8000/v1 (required)",
    "api_key_env": "the environment variable holding the key, or a list of them",
    "api_key": "the key itself (a variable or `ai keys add` keeps it out of the file)",
    "requires_api_key": "whether a call without a key fails before sending (default: true if a key is configured)",
    "description": "one line for `ai plugins`",
    "default_model": "the model picked when only the provider is named",
    "capabilities": "what the service supports (default: " + ", ".join(CHAT_CAPABILITIES) + ")",
    "models": "model ids, or [[providers.NAME.models]] tables as in a catalog.toml",
    "prices": "[[providers.NAME.prices]] tables as in a catalog.toml",
    "timeout": "seconds, as for any provider",
    "stream_idle_timeout": "seconds, as for any provider",
    "total_timeout": "seconds, as for any provider",
    "retry_attempts": "as for any provider",
}
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def config_file_path() -> str:
    """``AI_CONFIG_FILE``, else ``<user config dir>/ai-core/config.toml`` (as :mod:`ai_core.config`)."""
    path = os.environ.get("AI_CONFIG_FILE")
    if path:
        return path
    from platformdirs import user_config_dir

    return os.path.join(user_config_dir("ai-core", appauthor=False), "config.toml")


def config_providers(path: str | None = None) -> list[ConfigProvider]:
    """One plugin object per ``[providers.NAME]`` section with a ``dialect`` key.

    A missing file has none; an unreadable one raises
    :class:`~ai_core.errors.ConfigurationError` (the caller records it).
    """
    from ai_core.errors import ConfigurationError

    path = path or config_file_path()
    if not os.path.isfile(path):
        return []
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from None
    sections = data.get("providers")
    if not isinstance(sections, Mapping):
        return []
    return [
        ConfigProvider(str(name), section, path)
        for name, section in sections.items()
        if isinstance(section, Mapping) and "dialect" in section
    ]


class ConfigProvider:
    """The hooks of one config-file provider (registered as plugin ``config:NAME``)."""

    def __init__(self, name: str, section: Mapping[str, Any], path: str) -> None:
        self.name = name
        self.section = dict(section)
        self.path = path
        self.where = f"{path} [providers.{name}]"
        self._catalog: Any = None

    @property
    def plugin_name(self) -> str:
        return f"config:{self.name}"

    def __repr__(self) -> str:
        return f"<ConfigProvider {self.where}>"

    def _error(self, problem: str) -> Exception:
        from ai_core.errors import ConfigurationError

        return ConfigurationError(f"{self.where}: {problem}")

    def _check_keys(self) -> None:
        import difflib

        for key in self.section:
            if key not in SECTION_KEYS:
                close = difflib.get_close_matches(str(key), list(SECTION_KEYS), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self._error(f"unknown key {key!r}{hint}; keys: {', '.join(SECTION_KEYS)}")

    def _text(self, key: str, *, required: bool = False) -> str | None:
        value = self.section.get(key)
        if value is None and required:
            raise self._error(f"missing key {key!r}: {SECTION_KEYS[key]}")
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self._error(f"key {key!r} must be a non-empty string, got {value!r}")
        return value

    def spec(self) -> Any:
        """The :class:`~ai_core.ProviderSpec` this section describes."""
        from ai_core.drivers.base import ProviderSpec
        from ai_core.types import Capabilities

        self._check_keys()
        if not self.name or "/" in self.name:
            raise self._error("a provider name must be non-empty and contain no '/'")
        dialect = self._text("dialect", required=True) or ""
        if dialect not in DIALECTS:
            raise self._error(f"key 'dialect': unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
        base_url = self._text("base_url", required=True) or ""
        if not base_url.startswith(("http://", "https://")):
            raise self._error(f"key 'base_url' must be an http:// or https:// URL, got {base_url!r}")
        variables = self.section.get("api_key_env", ())
        variables = (variables,) if isinstance(variables, str) else variables
        if not isinstance(variables, list | tuple) or not all(
            isinstance(v, str) and _VARIABLE.match(v) for v in variables
        ):
            raise self._error(f"key 'api_key_env' must name environment variables, got {variables!r}")
        requires = self.section.get("requires_api_key", bool(variables) or "api_key" in self.section)
        if not isinstance(requires, bool):
            raise self._error(f"key 'requires_api_key' must be true or false, got {requires!r}")
        chosen = self.section.get("capabilities", CHAT_CAPABILITIES)
        known = list(Capabilities.model_fields)
        if not isinstance(chosen, list | tuple) or not all(isinstance(c, str) for c in chosen):
            raise self._error(f"key 'capabilities' must be a list of names ({', '.join(known)}), got {chosen!r}")
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise self._error(f"key 'capabilities': unknown capabilities {unknown}; known: {', '.join(known)}")
        return ProviderSpec(
            name=self.name,
            driver=DIALECTS[dialect],
            capabilities=Capabilities(**{name: name in chosen for name in known}),
            default_base_url=base_url,
            api_key_env=tuple(variables),
            requires_api_key=requires,
            description=self._text("description") or f"{dialect} service at {base_url} (from the config file)",
            default_model=self._text("default_model"),
        )

    def catalog(self) -> Any:
        """Its models and prices, checked as a catalog.toml is (:mod:`ai_core.dialects.catalog`)."""
        if self._catalog is None:
            from ai_core.dialects.catalog import catalog_from_data

            self._check_keys()
            models = self.section.get("models", [])
            if isinstance(models, list) and models and all(isinstance(m, str) for m in models):
                models = [{"id": model} for model in models]
            elif isinstance(models, list) and any(isinstance(m, str) for m in models):
                raise self._error("key 'models' must be a list of ids or of tables, not both")
            data = {"models": models, "prices": self.section.get("prices", [])}
            self._catalog = catalog_from_data(
                self.name, data, source=self.where, table_prefix=f"providers.{self.name}."
            )
        return self._catalog

    @hookimpl
    def register_providers(self, register: Callable[[Any], None]) -> None:
        register(self.spec())

    @hookimpl
    def register_models(self, register: Callable[[Any], None]) -> None:
        for model in self.catalog().models:
            register(model)

    @hookimpl
    def register_prices(self, register: Callable[[Any], None]) -> None:
        for price in self.catalog().prices:
            register(price)
