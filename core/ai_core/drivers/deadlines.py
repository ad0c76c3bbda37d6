"""How long one provider call may take: to start, between chunks, in all.

Three limits bound every call, each named in the error it raises:

- ``timeout`` (``AI_<PROVIDER>_TIMEOUT``): from sending the request to the
  response's headers, streamed or not: "no response within 2 s".
- ``stream_idle_timeout``: each gap between a stream's chunks (and between the
  reads of an unstreamed body); it defaults to ``timeout``: "stream idle for 2 s".
- ``total_timeout`` (``AI_TOTAL_TIMEOUT``, ``AI_<PROVIDER>_TOTAL_TIMEOUT``,
  default 600 s): the whole call, retries and their back-off included, so an
  endless stream or a body trickled a byte at a time still ends:
  "call exceeded its total deadline of 600 s" (:class:`~ai_core.errors.DeadlineExceededError`,
  never retried).

The total deadline reaches the driver through a context variable, so that the
driver contract (``send(request)``, ``stream(request)``) stays as it is: the
provider manager starts one :class:`CallDeadline` per call and runs each
attempt inside it (:meth:`CallDeadline.run`, :meth:`CallDeadline.stream`);
an HTTP driver reads it with :func:`current_deadline` and never waits past it.
A driver used on its own bounds each call by its own ``total_timeout``.

Cancel scopes never span a ``yield`` (a scope left open in a suspended async
generator would cancel its consumer instead), and a scope per chunk is avoided
where the transport enforces read timeouts itself: profiling showed the scope
to be most of a chunk's CPU.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ai_core import errors

if TYPE_CHECKING:
    from ai_core.drivers.base import Driver
    from ai_core.types import ChatRequest, StreamEvent

__all__ = ["CallDeadline", "bounded_chunks", "current_deadline", "seconds"]

T = TypeVar("T")

_CURRENT: ContextVar[CallDeadline | None] = ContextVar("ai_core_call_deadline", default=None)


def seconds(value: float) -> str:
    """``2`` -> ``"2 s"``, ``0.25`` -> ``"0.25 s"``: durations as people read them."""
    return f"{value:g} s"


def current_deadline() -> CallDeadline | None:
    """The deadline of the provider call running in this context, if any."""
    return _CURRENT.get()


@dataclass(frozen=True)
class CallDeadline:
    """When one provider call, all its attempts included, must be over.

    ``at`` is on anyio's clock (:func:`anyio.current_time`); ``seconds`` is the
    configured total, for the error message.
    """

    at: float
    seconds: float

    @classmethod
    def after(cls, total: float) -> CallDeadline:
        """A deadline ``total`` seconds from now (call inside an event loop)."""
        return cls(anyio.current_time() + total if math.isfinite(total) else math.inf, total)

    @classmethod
    def for_call(cls, total: float) -> CallDeadline:
        """The earlier of the running call's deadline and one ``total`` from now."""
        own = cls.after(total)
        outer = _CURRENT.get()
        return outer if outer is not None and outer.at <= own.at else own

    def remaining(self) -> float:
        return self.at - anyio.current_time()

    def allows(self, delay: float) -> bool:
        """Whether waiting ``delay`` seconds (a retry's back-off) still leaves time to call."""
        return anyio.current_time() + delay < self.at

    def error(self, provider: str | None) -> errors.DeadlineExceededError:
        return errors.DeadlineExceededError(
            f"call exceeded its total deadline of {seconds(self.seconds)}", provider=provider, seconds=self.seconds
        )

    async def run(self, func: Callable[..., Awaitable[T]], *args: Any, provider: str | None = None) -> T:
        """``await func(*args)`` within this deadline: drivers inside see it, and
        anything that does not watch it is cancelled when it passes."""
        token = _CURRENT.set(self)
        try:
            with anyio.CancelScope(deadline=self.at) as scope:
                result = await func(*args)
        finally:
            _CURRENT.reset(token)
        if scope.cancelled_caught:
            raise self.error(provider)
        return result

    async def stream(self, driver: Driver, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        """``driver.stream(request)``, started within this deadline.

        The driver sees the deadline while it starts (that is when an HTTP
        driver reads it, for the whole stream); the wait for the first event is
        bounded here too, for drivers that do not watch deadlines. The context
        variable is set and reset around each step, never across a ``yield``,
        so consumers stepping the stream from different tasks (the sync bridge
        does) are safe.
        """
        events = driver.stream(request).__aiter__()
        try:
            token = _CURRENT.set(self)
            try:
                with anyio.CancelScope(deadline=self.at) as scope:
                    first = await events.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _CURRENT.reset(token)
            if scope.cancelled_caught:
                raise self.error(request.provider)
            yield first
            async for event in events:
                yield event
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()


async def bounded_chunks(
    chunks: AsyncIterator[bytes],
    *,
    idle: float,
    deadline: CallDeadline,
    transport_bounds_idle: bool,
    provider: str,
    what: str = "stream",
) -> AsyncIterator[bytes]:
    """``chunks``, failing after ``idle`` seconds without one or at ``deadline``.

    Where the transport itself ends a read after ``idle`` seconds
    (``transport_bounds_idle``) and a whole idle gap would still end before the
    deadline, a chunk is read with no cancel scope at all; otherwise (a custom
    transport, or the last ``idle`` seconds before the deadline) each read gets
    a scope that ends at the earlier of the two. A body trickled a byte at a
    time therefore ends at the deadline, not up to ``idle`` later.
    """
    iterator = chunks.__aiter__()
    while True:
        remaining = deadline.at - anyio.current_time()
        if transport_bounds_idle and remaining > idle:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
        else:
            with anyio.CancelScope(deadline=anyio.current_time() + min(idle, remaining)) as scope:
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    return
            if scope.cancelled_caught:
                if remaining <= idle:
                    raise deadline.error(provider)
                raise idle_error(what, idle, provider)
        yield chunk


def idle_error(what: str, idle: float, provider: str) -> errors.ProviderTimeoutError:
    """``stream idle for 2 s``: the provider stopped sending part-way."""
    return errors.ProviderTimeoutError(f"{what} idle for {seconds(idle)}: the provider stalled", provider=provider)
