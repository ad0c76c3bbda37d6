"""The Ollama driver: native ``/api/chat`` with NDJSON streaming, plus the model endpoints.

Imported only when an ``ollama/...`` model is first used (the plugin names it
as a string). All translation is in :mod:`ai_ollama.wire`; this module is
HTTP: where the server is, what its errors mean, and ``/api/tags``,
``/api/show`` and ``/api/pull``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar

import anyio

from ai_core import errors
from ai_core.drivers.base import HTTPDriver, error_for_status
from ai_core.types import (
    Capabilities,
    ChatRequest,
    ChatResponse,
    ModelInfo,
    StreamCompleted,
    StreamEvent,
    UsageReported,
)
from ai_ollama import wire

__all__ = ["DEFAULT_BASE_URL", "OllamaDriver", "capabilities_from_show", "resolve_base_url"]

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
PULL_TOTAL_TIMEOUT = 24 * 3600.0
"""Seconds a whole ``ai models pull`` may take (the idle timeout still bounds each gap)."""
_NOT_FOUND = re.compile(r"model ['\"]?([^'\"]+?)['\"]? not found")


def resolve_base_url(configured: str | None, environ: dict[str, str] | None = None) -> str:
    """Where Ollama listens: ``AI_OLLAMA_BASE_URL`` (or the config file), else ``OLLAMA_HOST``
    (which people often set as a bare ``host:port`` or ``host``), else the default.

    ``http://`` is added to a URL without a scheme and Ollama's port 11434 to a bare host.
    """
    env = os.environ if environ is None else environ
    raw = (configured or env.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        host, _, rest = raw.partition("/")
        if host.endswith("]") or not re.search(r":\d+$", host):  # a bare host, or a bare IPv6 literal
            host += ":11434"
        raw = "http://" + host + ("/" + rest if rest else "")
    return raw.rstrip("/")


def capabilities_from_show(show: dict[str, Any]) -> Capabilities:
    """A model's real capabilities from ``/api/show``'s ``capabilities`` list
    (``completion``, ``tools``, ``vision``, ``thinking``, ``insert``, ``embedding``)."""
    names = set(show.get("capabilities") or ())
    tools = "tools" in names
    return Capabilities(
        streaming=True,
        tools=tools,
        tool_streaming=tools,
        vision="vision" in names,
        json_schema="completion" in names,
        reasoning="thinking" in names,
        batch=False,
        list_models=True,
    )


def _context_window(show: dict[str, Any]) -> int | None:
    info = show.get("model_info")
    if not isinstance(info, dict):
        return None
    for key, value in info.items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return None


class OllamaDriver(HTTPDriver):
    """Ollama's native API. No key is needed; one configured is sent as a Bearer token
    (for an Ollama behind an authenticating proxy)."""

    default_base_url = DEFAULT_BASE_URL
    capabilities = Capabilities(
        streaming=True,
        tools=True,
        tool_streaming=True,
        vision=True,
        json_schema=True,
        reasoning=True,
        batch=False,
        list_models=True,
    )

    @property
    def base_url(self) -> str:
        return resolve_base_url(self.config.base_url)

    # -- chat ------------------------------------------------------------------

    async def send(self, request: ChatRequest) -> ChatResponse:
        payload = await self.post_json("/api/chat", wire.build_body(request, stream=False))
        return wire.parse_response(payload, provider=self.provider, model=request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Deltas as the lines arrive, then the usage and the full response.

        Ollama reports usage only on its last line, so a stream cut part-way
        has none to pass on; a line that is not JSON is a
        :class:`~ai_core.errors.MalformedResponseError`, an ``{"error": ...}``
        line a typed error, and a stream without its ``done`` line a
        :class:`~ai_core.errors.StreamInterruptedError`.
        """
        reader = wire.ChunkReader(self.provider, request.model)
        feed = reader.feed
        async with aclosing(self.stream_lines("/api/chat", wire.build_body(request, stream=True))) as lines:
            async for line in lines:
                for event in feed(line):
                    yield event
                if reader.done:
                    await self._drain(lines)
                    break
        response = reader.finish()
        yield UsageReported(response.usage)
        yield StreamCompleted(response)

    drain_seconds: ClassVar[float] = 0.5

    async def _drain(self, lines: AsyncIterator[str]) -> None:
        """Read what follows the ``done`` line (normally only the body's end), briefly, so the
        connection goes back to the pool; the answer is complete, so a failure here is ignored."""
        with anyio.move_on_after(self.drain_seconds):
            try:
                async for _ in lines:
                    pass
            except errors.ProviderError:
                pass

    # -- errors ----------------------------------------------------------------

    def error_from_response(self, status: int, body: bytes, headers: Any) -> errors.ProviderError:
        """Ollama's ``{"error": "..."}``; a model that is not pulled says how to pull it."""
        try:
            parsed: Any = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        message = parsed.get("error") if isinstance(parsed, dict) else None
        if not isinstance(message, str) or not message:
            message = body[:300].decode("utf-8", "replace") or f"HTTP {status}"
        if status == 404:
            found = _NOT_FOUND.search(message)
            if found:
                name = found.group(1)
                message = f"model {name} is not pulled: run `ai models pull {self.provider}/{name}`"
        return error_for_status(
            status,
            message,
            headers=headers,
            provider=self.provider,
            body=parsed,
            request_id=headers.get("x-request-id") if headers is not None else None,
        )

    def error_from_transport(self, exc: Exception, *, streaming: bool = False) -> errors.ProviderError:
        from ai_core.drivers import http

        if isinstance(exc, http.ConnectError):
            return errors.ProviderUnavailableError(
                f"is Ollama running at {self.base_url}? (start it with `ollama serve`)", provider=self.provider
            )
        return super().error_from_transport(exc, streaming=streaming)

    # -- models ----------------------------------------------------------------

    async def show(self, model: str) -> dict[str, Any]:
        """``POST /api/show``: the model's details, capabilities and metadata."""
        payload = await self.post_json("/api/show", {"model": model})
        if not isinstance(payload, dict):
            raise errors.MalformedResponseError(
                f"unexpected /api/show answer: {str(payload)[:200]}", provider=self.provider
            )
        return payload

    async def tags(self) -> list[dict[str, Any]]:
        """``GET /api/tags``: the models pulled on this server."""
        payload = await self.get_json("/api/tags")
        models = payload.get("models") if isinstance(payload, dict) else None
        if not isinstance(models, list):
            raise errors.MalformedResponseError(
                f"unexpected /api/tags answer: {str(payload)[:200]}", provider=self.provider
            )
        return [m for m in models if isinstance(m, dict) and isinstance(m.get("name") or m.get("model"), str)]

    async def list_models(self) -> list[ModelInfo]:
        """What is pulled (``/api/tags``), each with its real capabilities (``/api/show``).

        Models that cannot chat (embedding models) are left out.
        """
        pulled = await self.tags()
        shows: dict[str, dict[str, Any]] = {}
        limiter = anyio.Semaphore(4)

        async def one(name: str) -> None:
            async with limiter:
                shows[name] = await self.show(name)

        names = [str(m.get("name") or m.get("model")) for m in pulled]
        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(one, name)
        infos = []
        for name in names:
            show = shows[name]
            listed = show.get("capabilities")
            if listed is not None and "completion" not in listed:
                continue
            capabilities = capabilities_from_show(show)
            infos.append(
                ModelInfo(
                    provider=self.provider,
                    id=name,
                    name=name,
                    context_window=_context_window(show),
                    capabilities=capabilities,
                    reasoning=capabilities.reasoning,
                )
            )
        return infos

    async def pull(self, model: str) -> AsyncGenerator[dict[str, Any], None]:
        """``POST /api/pull``: yield its progress lines (``status``, ``digest``, ``total``,
        ``completed``) until ``success``. A name the library does not have is a
        :class:`~ai_core.errors.NotFoundError`.

        A pull of several gigabytes outlasts the total deadline of a chat call, so it
        runs on a client of its own bounded by :data:`PULL_TOTAL_TIMEOUT` (and, as any
        stream, by the idle timeout between progress lines).
        """
        puller = type(self)(dataclasses.replace(self.config, total_timeout=PULL_TOTAL_TIMEOUT))
        try:
            async with aclosing(puller._pull(model)) as statuses:
                async for status in statuses:
                    yield status
        finally:
            await puller.aclose()

    async def _pull(self, model: str) -> AsyncGenerator[dict[str, Any], None]:
        success = False
        async with aclosing(self.stream_lines("/api/pull", {"model": model, "stream": True})) as lines:
            async for line in lines:
                if not line.strip():
                    continue
                try:
                    status = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise errors.MalformedResponseError(
                        f"bad pull line {line[:200]!r}", provider=self.provider
                    ) from exc
                if not isinstance(status, dict):
                    raise errors.MalformedResponseError(f"bad pull line {line[:200]!r}", provider=self.provider)
                if "error" in status:
                    raise self._pull_error(model, str(status["error"]))
                yield status
                if status.get("status") == "success":
                    success = True
        if not success:
            raise errors.StreamInterruptedError(f"the pull of {model} ended before success", provider=self.provider)

    def _pull_error(self, model: str, message: str) -> errors.ProviderError:
        lowered = message.lower()
        if "file does not exist" in lowered or "not found" in lowered or "manifest unknown" in lowered:
            return errors.NotFoundError(
                f"there is no model {model!r} to pull ({message}); see https://ollama.com/library",
                provider=self.provider,
                status_code=404,
            )
        return errors.ProviderError(f"pulling {model} failed: {message}", provider=self.provider)

    async def validate_credentials(self) -> bool:
        """No key is needed: True when the server answers ``/api/tags``; False when a
        proxy in front of it refuses the configured key (401/403)."""
        try:
            await self.get_json("/api/tags")
        except (errors.AuthenticationError, errors.PermissionDeniedError):
            return False
        return True
