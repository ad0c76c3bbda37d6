"""Send a batch's items through the conversation pipeline, a bounded number at once.

Every item is its own conversation turn, so it is budgeted, priced, recorded in
the ledger and announced like any call; a failure is that item's result, never
the batch's. ``concurrency`` workers take items in order from one queue, so a
batch of any size holds at most ``concurrency`` calls (and tasks) at a time.

With a ``job`` name each item's conversation id is derived from the job and
the item id, so a second run of the same job finds the answers the ledger
already holds and does not send those items again (:mod:`.ledger`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from ai_core import errors
from ai_core.batch.items import BatchItem, BatchResult, item_id_of, parse_item
from ai_core.batch.ledger import LedgerState, read_ledger

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.pipeline.builder import ConversationBuilder

__all__ = ["batch_conversation_id", "run_batch"]

ResultCallback = Callable[[BatchResult], Any]


def batch_conversation_id(job: str, item_id: str) -> str:
    """The conversation id of item ``item_id`` in job ``job``: the same on every run, 32 hex digits."""
    return hashlib.sha256(f"ai-core batch\0{job}\0{item_id}".encode()).hexdigest()[:32]


def prepare(raw_items: Iterable[Any]) -> list[BatchItem | BatchResult]:
    """Validate every item; a bad or repeated one becomes its error result (nothing is sent for it)."""
    prepared: list[BatchItem | BatchResult] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_items, start=1):
        if isinstance(raw, BatchResult):  # already decided by the caller (a bad JSONL line)
            prepared.append(raw)
            seen.add(raw.id)
            continue
        try:
            item = parse_item(raw)
        except errors.AIError as exc:
            prepared.append(BatchResult.failed(item_id_of(raw) or f"#{position}", exc))
            continue
        if item.id in seen:
            prepared.append(
                BatchResult.failed(
                    item.id, errors.RequestValidationError(f"item {item.id!r}: the id was already used by another item")
                )
            )
            continue
        seen.add(item.id)
        prepared.append(item)
    return prepared


async def run_batch(
    ai: AI,
    items: Iterable[Any],
    *,
    concurrency: int = 8,
    job: str | None = None,
    on_result: ResultCallback | None = None,
    stop: anyio.Event | None = None,
) -> list[BatchResult]:
    """Send ``items``; return one result per item, in input order.

    ``on_result`` is called with each result as it is ready (from the event
    loop; keep it quick). When ``stop`` is set, no further item is started and
    the calls in flight finish: the results returned are then those of the
    items that were finished.
    """
    if concurrency < 1:
        raise errors.ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    prepared = prepare(items)
    results: list[BatchResult | None] = [None] * len(prepared)
    ledger = LedgerState()
    if job is not None:
        ids = [batch_conversation_id(job, entry.id) for entry in prepared if isinstance(entry, BatchItem)]
        ledger = await read_ledger(ai.services.database, ids)

    def finish(index: int, result: BatchResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    pending: list[int] = []
    for index, entry in enumerate(prepared):
        if isinstance(entry, BatchResult):
            finish(index, entry)
            continue
        conversation_id = batch_conversation_id(job, entry.id) if job is not None else None
        recorded = ledger.answered.get(conversation_id) if conversation_id else None
        if recorded is not None:
            finish(index, BatchResult(
                id=entry.id, text=recorded.text, usage=recorded.usage, cost=recorded.cost, model=recorded.model,
                conversation_id=conversation_id, finish_reason=recorded.finish_reason, resumed=True,
            ))  # fmt: skip
        else:
            pending.append(index)

    queue = iter(pending)

    async def worker() -> None:
        for index in queue:  # one shared iterator: each item is taken by exactly one worker
            entry = prepared[index]
            assert isinstance(entry, BatchItem)
            finish(index, await _send_one(ai, entry, job, ledger))
            if stop is not None and stop.is_set():
                return

    if pending and not (stop is not None and stop.is_set()):
        async with anyio.create_task_group() as group:
            for _ in range(min(concurrency, len(pending))):
                group.start_soon(worker)
    return [r for r in results if r is not None]


async def _send_one(ai: AI, item: BatchItem, job: str | None, ledger: LedgerState) -> BatchResult:
    conversation_id = batch_conversation_id(job, item.id) if job is not None else None
    try:
        builder = _builder(ai, item, conversation_id, resume=conversation_id in ledger.started)
        response = await builder.asend()
    except errors.LedgerWriteError as exc:  # answered and paid, not recorded: keep the answer beside the error
        if exc.response is None:
            return BatchResult.failed(item.id, exc, conversation_id)
        result = BatchResult.answered(item.id, exc.response)
        result.error, result.error_type = " ".join(str(exc).split()), type(exc).__name__
        return result
    except errors.AIError as exc:
        result = BatchResult.failed(item.id, exc, conversation_id)
        result.model = item.model
        return result
    return BatchResult.answered(item.id, response)


def _builder(ai: AI, item: BatchItem, conversation_id: str | None, *, resume: bool) -> ConversationBuilder:
    """The conversation for ``item``: a new one with a fixed id, or, when an earlier
    run stored its messages but got no answer, that stored one sent again as it is."""
    from ai_core.pipeline.builder import ConversationBuilder

    builder = ConversationBuilder(
        ai, id=conversation_id if resume else None, user=item.user, tenant=item.tenant, tags=item.tags
    )
    if conversation_id is not None and not resume:
        builder._id = conversation_id  # a new conversation whose id the next run can find
    if item.model is not None:
        builder.model(item.model)
    if item.system is not None:
        builder.system(item.system)
    if not resume:
        for message in item.messages:
            builder.message(message)
    builder._params.update(item.params)
    if item.json_object:
        builder.json()
    if item.options:
        builder.options(**item.options)
    if item.metadata:
        builder.metadata(**item.metadata)
    if item.max_cost is not None:
        builder.max_cost(item.max_cost)
    if item.fallback:
        builder.fallback(*item.fallback)
    return builder
