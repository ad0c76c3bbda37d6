"""``[queue]`` in the config file and ``AI_QUEUE_URL``: where background work runs.

Unset (the default), event listeners run in the process that emitted the event
and the jobs run where ``ai jobs run`` or ``ai scheduler`` is started. With a
Redis URL, listeners registered by plugins and the scheduled jobs become
Dramatiq messages that ``ai worker`` processes on any machine, and so do the
agent actions a model requests (docs/actions.md).

Importing this module costs pydantic only: Dramatiq and redis load when a
message is first sent or a worker starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, SecretStr, field_validator

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = [
    "ACTIONS_QUEUE",
    "DEFAULT_SCHEDULE",
    "EVENTS_QUEUE",
    "JOBS_QUEUE",
    "LOCAL_LISTENERS",
    "QueueSettings",
    "action_modules",
    "queue_url",
    "schedule_of",
]

EVENTS_QUEUE = "ai-core-events"
JOBS_QUEUE = "ai-core-jobs"
ACTIONS_QUEUE = "ai-core-actions"

LOCAL_LISTENERS = ("analytics", "cost_anomaly", "otel")
"""Core's listeners that stay in process: a turn's touched keys (analytics), a moving
average (cost_anomaly), the caller's trace (otel) live in the emitting process."""

DEFAULT_SCHEDULE: dict[str, float] = {
    "sync-models": 3600.0,
    "calculate-costs": 900.0,
    "generate-analytics": 86400.0,
    "cleanup-conversations": 86400.0,
    "expire-holds": 600.0,
}
"""Seconds between runs of each job, as the design schedules them (``expire-holds``: ours;
admission closes a counter's stale holds anyway, this closes the rest)."""


class QueueSettings(BaseModel):
    """The ``[queue]`` table of the config file."""

    url: SecretStr | None = Field(None, description="redis://host:port/db of the queue (AI_QUEUE_URL wins)")
    namespace: str = Field("ai-core", min_length=1, max_length=64, description="prefix of every queue key in Redis")
    requeue_after: float = Field(
        60.0, gt=0, description="seconds without a heartbeat after which a dead worker's unfinished tasks are redone"
    )
    maintenance_chance: int = Field(
        10_000, ge=1, le=1_000_000, description="per million broker calls, how many look for dead workers"
    )
    listeners: list[str] = Field(
        default_factory=lambda: ["*"], description="names of the plugins' listeners run on workers; * for all"
    )
    local_listeners: list[str] = Field(
        default_factory=lambda: list(LOCAL_LISTENERS),
        description="listeners that keep per-process state and so always run where the event happened",
    )
    retries: int = Field(5, ge=0, le=100, description="times a failing listener is retried, with backoff")
    async_backend: str = Field("asyncio", description="anyio backend async listeners run on in a worker")
    schedule: dict[str, float] = Field(
        default_factory=dict, description="seconds between runs per job; 0 turns a job off (default: the design's)"
    )
    actions: list[str] = Field(
        default_factory=list, description="modules `ai worker` imports at start to find agent actions (docs/actions.md)"
    )
    action_lease: float = Field(
        30.0, gt=0, le=3600, description="seconds a worker's claim on a running action lasts unless renewed"
    )
    action_sweep: float = Field(
        60.0, gt=0, description="seconds between workers' looks for actions whose message was lost"
    )

    @field_validator("actions")
    @classmethod
    def _modules(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a module name (e.g. myapp.actions)")
        return value

    @field_validator("async_backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if value not in ("asyncio", "trio"):
            raise ValueError("must be asyncio or trio")
        return value

    @field_validator("schedule")
    @classmethod
    def _known_jobs(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(DEFAULT_SCHEDULE))
        if unknown:
            raise ValueError(f"unknown job(s) {', '.join(unknown)}; the jobs are {', '.join(DEFAULT_SCHEDULE)}")
        if any(seconds < 0 for seconds in value.values()):
            raise ValueError("seconds must be zero (off) or more")
        return value


def queue_url(settings: Settings) -> str | None:
    """``AI_QUEUE_URL``, else ``[queue] url``; None keeps all background work in process."""
    secret: Any = getattr(settings, "queue_url", None) or getattr(settings, "queue", QueueSettings()).url
    if secret is None:
        return None
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)
    return text.strip() or None


def action_modules(settings: Settings) -> list[str]:
    """``AI_QUEUE_ACTIONS`` (comma-separated), else ``[queue] actions``: what ``ai worker`` imports."""
    given: Any = getattr(settings, "queue_actions", None)
    if given:
        names = [part.strip() for part in str(given).split(",") if part.strip()]
        bad = [name for name in names if not all(part.isidentifier() for part in name.split("."))]
        if bad:
            from ai_core.errors import ConfigurationError

            raise ConfigurationError(f"AI_QUEUE_ACTIONS: {bad[0]!r} is not a module name (e.g. myapp.actions)")
        return names
    return list(settings.queue.actions)


def schedule_of(settings: Settings) -> dict[str, float]:
    """Seconds between runs of each job that is on: the design's schedule with ``[queue] schedule`` applied."""
    merged = {**DEFAULT_SCHEDULE, **settings.queue.schedule}
    return {name: seconds for name, seconds in merged.items() if seconds > 0}
