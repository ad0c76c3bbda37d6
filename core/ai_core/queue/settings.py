"""``[queue]`` in the config file and ``AI_QUEUE_URL``: where background work runs.

Unset (the default), event listeners run in the process that emitted the event
and the jobs run where ``ai jobs run`` or ``ai scheduler`` is started. With a
Redis URL, listeners registered by plugins and the scheduled jobs become
Dramatiq messages that ``ai worker`` processes on any machine.

Importing this module costs pydantic only: Dramatiq and redis load when a
message is first sent or a worker starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, SecretStr, field_validator

if TYPE_CHECKING:
    from ai_core.config import Settings

__all__ = [
    "DEFAULT_SCHEDULE",
    "EVENTS_QUEUE",
    "JOBS_QUEUE",
    "LOCAL_LISTENERS",
    "QueueSettings",
    "queue_url",
    "schedule_of",
]

EVENTS_QUEUE = "ai-core-events"
JOBS_QUEUE = "ai-core-jobs"

LOCAL_LISTENERS = ("analytics", "cost_anomaly", "otel")
"""Core's listeners that stay in process: a turn's touched keys (analytics), a moving
average (cost_anomaly), the caller's trace (otel) live in the emitting process."""

DEFAULT_SCHEDULE: dict[str, float] = {
    "sync-models": 3600.0,
    "calculate-costs": 900.0,
    "generate-analytics": 86400.0,
    "cleanup-conversations": 86400.0,
}
"""Seconds between runs of each job, as the design schedules them."""


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


def schedule_of(settings: Settings) -> dict[str, float]:
    """Seconds between runs of each job that is on: the design's schedule with ``[queue] schedule`` applied."""
    merged = {**DEFAULT_SCHEDULE, **settings.queue.schedule}
    return {name: seconds for name, seconds in merged.items() if seconds > 0}
