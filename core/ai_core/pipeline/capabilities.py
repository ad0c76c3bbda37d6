"""What a provider can be asked for: one declaration, checked before any call.

A provider's capabilities are declared once, in its
:class:`~ai_core.ProviderSpec` (``capabilities=``). That declaration is the
one core enforces and ``ai plugins`` lists, because it is the one core can
read without importing the driver, and because one driver class (a dialect)
serves many providers that differ in what they support. Core gives every
driver it builds from a spec the spec's capabilities (:func:`build_driver`), so
``driver.capabilities`` says the same thing everywhere. A driver given
directly (``AI(drivers=...)``, ``override_provider``) is checked against its
provider's spec too, when a plugin registers one; only a driver for a
provider no plugin registers is taken at its word (its class's
``capabilities`` attribute).

:func:`refuse_unsupported` turns a request the driver cannot carry (tools,
images, structured output to a driver that declares none) into a
:class:`~ai_core.errors.RequestValidationError` before anything is sent,
instead of a provider error, or worse, a silently dropped feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_core import errors
from ai_core.types import Capabilities, ChatRequest, ImagePart

if TYPE_CHECKING:
    from ai_core.drivers.base import Driver, ProviderConfig, ProviderSpec
    from ai_core.plugins import PluginRegistry

__all__ = ["build_driver", "refuse_unsupported", "unsupported_features"]


def build_driver(spec: ProviderSpec, config: ProviderConfig) -> Driver:
    """The driver for ``spec``, carrying the spec's capabilities."""
    driver = spec.load_factory()(config)
    try:
        driver.capabilities = spec.capabilities
    except AttributeError as exc:  # a read-only property: the spec could not be the authority
        raise errors.PluginLoadError(
            spec.name,
            None,
            f"{type(driver).__name__}.capabilities cannot be set; declare capabilities in the ProviderSpec only",
        ) from exc
    return driver


def unsupported_features(capabilities: Capabilities, request: ChatRequest) -> list[str]:
    """What ``request`` asks for that ``capabilities`` does not offer, in words."""
    missing: list[str] = []
    if request.tools and not capabilities.tools:
        missing.append(f"tools ({', '.join(tool.name for tool in request.tools)})")
    if request.response_format is not None and not capabilities.json_schema:
        missing.append(f"structured output (response_format {request.response_format.type})")
    if not capabilities.vision and any(
        isinstance(part, ImagePart) for message in request.messages for part in message.parts
    ):
        missing.append("images")
    return missing


def refuse_unsupported(driver: Driver, request: ChatRequest, registry: PluginRegistry | None = None) -> None:
    """Raise :class:`~ai_core.errors.RequestValidationError` when ``request``
    needs a feature its provider does not declare; return quietly otherwise.

    The declaration is ``driver.capabilities`` (the spec's, for a driver core
    built); for a driver given directly, pass ``registry``: the provider's
    ``ProviderSpec`` there, if it has one, is the declaration."""
    capabilities = driver.capabilities
    if registry is not None:
        spec = registry.providers().get(request.provider)
        if spec is not None:
            capabilities = spec.capabilities
    if capabilities.tools and capabilities.json_schema and capabilities.vision:
        return  # the common case costs three attribute reads
    missing = unsupported_features(capabilities, request)
    if not missing:
        return
    declared = ", ".join(capabilities.names()) or "none"
    raise errors.RequestValidationError(
        f"{request.provider}/{request.model} does not support {' or '.join(missing)}: provider "
        f"{request.provider!r} declares capabilities: {declared}. Remove them from the request or use a model "
        "whose provider declares them.",
        errors=[
            {"type": "unsupported_feature", "loc": (feature.split(" ")[0],), "msg": feature} for feature in missing
        ],
    )
