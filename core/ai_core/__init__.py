"""ai-core: one interface to many AI providers.

The public API is re-exported here and loaded lazily (PEP 562), so
``import ai_core`` costs almost nothing and imports no provider or HTTP code
until a name that needs it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_core._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # facade and pipeline
    "AI": "ai_core.app",
    "ConversationBuilder": "ai_core.pipeline.builder",
    "Middleware": "ai_core.pipeline.middleware",
    "Call": "ai_core.pipeline.middleware",
    "Next": "ai_core.pipeline.middleware",
    "StreamNext": "ai_core.pipeline.middleware",
    "ConversationStore": "ai_core.pipeline.store",
    "MemoryStore": "ai_core.pipeline.store",
    "Services": "ai_core.services",
    "Settings": "ai_core.config",
    # plugins
    "PluginRegistry": "ai_core.plugins",
    "PluginInfo": "ai_core.plugin_models",
    "LoadError": "ai_core.plugin_models",
    "PluginProblem": "ai_core.plugin_models",
    "builtin": "ai_core.builtin",
    "fake_plugin": "ai_core.drivers.fake_plugin",
    "reset_default_registry": "ai_core.plugins",
    "default_registry": "ai_core.plugins",
    "ProviderSpec": "ai_core.drivers.base",
    "ProviderConfig": "ai_core.drivers.base",
    "Driver": "ai_core.drivers.base",
    "HTTPDriver": "ai_core.drivers.base",
    "error_for_status": "ai_core.drivers.base",
    "retry_after_seconds": "ai_core.drivers.base",
    "parse_error_body": "ai_core.drivers.base",
    "CredentialStore": "ai_core.credentials.store",
    "lookup_api_key": "ai_core.credentials.store",
    "StreamAccumulator": "ai_core.drivers.streaming",
    "ServerSentEvent": "ai_core.drivers.streaming",
    "iter_sse": "ai_core.drivers.streaming",
    "ChatProfile": "ai_core.dialects.openai_chat.profile",
    "OpenAIChatDriver": "ai_core.dialects.openai_chat.driver",
    "read_package_catalog": "ai_core.dialects.catalog",
    "CatalogError": "ai_core.dialects.catalog",
    "catalog_provider_hooks": "ai_core.dialects.provider_hooks",
    "FakeDriver": "ai_core.drivers.fake",
    "Listener": "ai_core.events.listener",
    "EventDispatcher": "ai_core.events.dispatcher",
    "MCPServerSpec": "ai_core.mcp.spec",
    "MCPServer": "ai_core.mcp.spec",
    "ToolResult": "ai_core.mcp.spec",
    "Approval": "ai_core.mcp.approval",
    "ToolApprover": "ai_core.mcp.approval",
    "ToolCallRequest": "ai_core.mcp.approval",
    "PendingCall": "ai_core.mcp.pending",
    # storage and budgets
    "Database": "ai_core.storage.database",
    "Budget": "ai_core.budgets.model",
    "BudgetMiddleware": "ai_core.budgets.middleware",
    "expire_stale_holds": "ai_core.budgets",
    "conversation_detail": "ai_core.storage.browse",
    # batches
    "BatchItem": "ai_core.batch.items",
    "BatchResult": "ai_core.batch.items",
    "run_provider_batch": "ai_core.batch.provider_job",
    # costs
    "PriceBook": "ai_core.costs",
    "compute_cost": "ai_core.costs",
    # events
    "Event": "ai_core.events.types",
    "MessageSent": "ai_core.events.types",
    "ResponseGenerated": "ai_core.events.types",
    "ConversationUpdated": "ai_core.events.types",
    "CostCalculated": "ai_core.events.types",
    "CostDisagreement": "ai_core.events.types",
    "BudgetThresholdReached": "ai_core.events.types",
    "BudgetOvershoot": "ai_core.events.types",
    "ModelSynced": "ai_core.events.types",
    "ProviderSwitched": "ai_core.events.types",
    "RequestFailed": "ai_core.events.types",
    "ToolCalled": "ai_core.events.types",
    "AgentStepCompleted": "ai_core.events.types",
    "ConversationCreated": "ai_core.events.types",
    "MessageAdded": "ai_core.events.types",
    "CostAnomalyDetected": "ai_core.events.types",
    "CircuitOpened": "ai_core.events.types",
    "ExternalIntegrationTriggered": "ai_core.events.types",
    "AgentActionRequested": "ai_core.events.types",
    "AgentActionCompleted": "ai_core.events.types",
    # the task queue (docs/queue.md)
    "delivery_connection": "ai_core.queue.delivery",
    "deliver_once": "ai_core.queue.delivery",
    "queue_status": "ai_core.queue.status",
    # integrations
    "use_otel_providers": "ai_core.integrations.otel_setup",
    # logging
    "configure_logging": "ai_core.logging",
    # the plugin contract (imports pluggy, so only on use)
    "hookimpl": "ai_core.hookspecs",
    # request security, memory, agent actions (docs/security.md, memory.md, actions.md)
    "PolicyMiddleware": "ai_core.security.policy",
    "RequestPolicy": "ai_core.security.policy",
    "PIIMiddleware": "ai_core.security.pii_layer",
    "PIIFilter": "ai_core.security.pii",
    "Detector": "ai_core.security.pii",
    "AuditTrail": "ai_core.security.audit",
    "ActionSpec": "ai_core.actions",
    "ActionManager": "ai_core.actions",
    "action": "ai_core.actions",
    "resume_actions": "ai_core.actions",
}

_TYPES = (
    "Capabilities",
    "ChatRequest",
    "ChatResponse",
    "Cost",
    "FinishReason",
    "ImagePart",
    "Message",
    "ModelInfo",
    "ModelPrice",
    "Part",
    "PriceTier",
    "ReasoningDelta",
    "ReasoningPart",
    "ResponseFormat",
    "Role",
    "StreamCompleted",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "TokenUsage",
    "ToolCallDelta",
    "ToolCallPart",
    "ToolChoice",
    "ToolResultPart",
    "ToolSpec",
    "UsageReported",
)
_EXPORTS.update(dict.fromkeys(_TYPES, "ai_core.types"))

_ERRORS = (
    "AIError",
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetUnknownCostError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthExceededError",
    "CredentialError",
    "DeadlineExceededError",
    "InvalidRequestError",
    "IntegrationError",
    "LedgerWriteError",
    "MCPConnectionError",
    "MCPError",
    "MCPProtocolError",
    "MCPServerCrashedError",
    "MCPTimeoutError",
    "MalformedResponseError",
    "MissingCredentialsError",
    "ModelShutDownError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginLoadError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RateLimitReachedError",
    "RequestValidationError",
    "ScriptExhaustedError",
    "StorageError",
    "StreamInterruptedError",
    "ToolCallsPendingError",
    "ToolLoopError",
    "UnknownModelError",
    "UnknownProviderError",
)
_EXPORTS.update(dict.fromkeys(_ERRORS, "ai_core.errors"))

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # let type checkers and IDEs see the lazy names
    from ai_core import builtin
    from ai_core.app import AI
    from ai_core.budgets import expire_stale_holds
    from ai_core.budgets.middleware import BudgetMiddleware
    from ai_core.budgets.model import Budget
    from ai_core.config import Settings
    from ai_core.costs import PriceBook, compute_cost
    from ai_core.credentials.store import CredentialStore, lookup_api_key
    from ai_core.dialects.catalog import CatalogError, read_package_catalog
    from ai_core.dialects.provider_hooks import catalog_provider_hooks
    from ai_core.drivers import fake_plugin
    from ai_core.drivers.base import (
        Driver,
        HTTPDriver,
        ProviderConfig,
        ProviderSpec,
        error_for_status,
        parse_error_body,
        retry_after_seconds,
    )
    from ai_core.drivers.fake import FakeDriver
    from ai_core.drivers.streaming import ServerSentEvent, StreamAccumulator, iter_sse
    from ai_core.errors import *
    from ai_core.events.dispatcher import EventDispatcher
    from ai_core.events.listener import Listener
    from ai_core.events.types import *
    from ai_core.hookspecs import hookimpl
    from ai_core.logging import configure_logging
    from ai_core.mcp.spec import MCPServer, MCPServerSpec, ToolResult
    from ai_core.pipeline.builder import ConversationBuilder
    from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
    from ai_core.pipeline.store import ConversationStore, MemoryStore
    from ai_core.plugin_models import LoadError, PluginInfo, PluginProblem
    from ai_core.plugins import PluginRegistry, default_registry, reset_default_registry
    from ai_core.queue.delivery import deliver_once, delivery_connection
    from ai_core.queue.status import queue_status
    from ai_core.services import Services
    from ai_core.storage.browse import conversation_detail
    from ai_core.storage.database import Database
    from ai_core.types import *
