"""A batch run by the provider itself: OpenAI's Batch API, as a resumable job.

    upload the requests (Files API, ``purpose=batch``) -> create the batch -> poll
    -> download the output and error files -> record each answer in the ledger

Each step's result is saved in the job's row (``ai_batch_jobs``) before the
next one starts, so a run stopped at any point resumes where it was: it never
uploads or submits the same items twice, and an answer already recorded is
taken from the ledger, not recorded again. Answers are recorded through the
normal pipeline (budget layer, pricing, ledger, events) by a driver that
replays the downloaded answers, priced at the batch discount
(:data:`~ai_core.costs.pricing.OPENAI_BATCH_DISCOUNT`). Requests the batch
failed cost nothing and are returned as error results.

Any provider whose driver speaks the OpenAI Chat dialect over HTTP can be
used, provided its server has the Files and Batch endpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio

from ai_core import errors
from ai_core.batch.items import BatchItem, BatchResult
from ai_core.batch.job_state import JobState, job_id, load_job, save_job
from ai_core.batch.ledger import read_ledger
from ai_core.batch.runner import _builder, batch_conversation_id, prepare, run_batch
from ai_core.drivers.base import Driver
from ai_core.pipeline.middleware import Call, Middleware
from ai_core.types import ChatRequest, ChatResponse, StreamEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ai_core.app import AI
    from ai_core.dialects.openai_chat.driver import OpenAIChatDriver

__all__ = ["run_provider_batch"]

ITEM_KEY = "ai_core_batch_item"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
StatusCallback = Callable[[str, dict[str, Any]], Any]


async def run_provider_batch(
    ai: AI,
    items: Iterable[Any],
    *,
    job: str,
    poll_interval: float = 30.0,
    on_result: Callable[[BatchResult], Any] | None = None,
    on_status: StatusCallback | None = None,
    stop: anyio.Event | None = None,
) -> list[BatchResult] | None:
    """Run ``items`` as the provider batch job ``job`` (started, or resumed if it exists).

    Returns every item's result, or None when ``stop`` was set while the
    provider was still working (the job resumes on the next call with the same
    ``job``). ``on_status(phase, details)`` reports progress: ``uploaded``,
    ``submitted``, ``polled`` (the provider's batch object), ``downloaded``.
    """
    database = ai.services.database
    if database is None:
        raise errors.ConfigurationError(
            "a provider batch keeps its job state in the database: turn persistence on (AI_PERSISTENCE)"
        )
    report = on_status or (lambda phase, details: None)
    results: list[BatchResult] = []

    def finish(result: BatchResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    pending: list[BatchItem] = []
    for entry in prepare(items):
        if isinstance(entry, BatchResult):
            finish(entry)
        else:
            pending.append(entry)
    ledger = await read_ledger(database, [batch_conversation_id(job, item.id) for item in pending])
    unanswered = [item for item in pending if batch_conversation_id(job, item.id) not in ledger.answered]
    provider = _provider_of(ai, unanswered or pending)
    state = await load_job(database, job)
    refused: set[str] = set()
    resumed = state is not None and not state.finished
    if unanswered and (state is None or state.finished):
        state, refused = await _upload_items(ai, job, provider, unanswered, finish, report)
    if state is not None and not state.finished and state.batch_id is None:
        await _create_batch(await _driver(ai, state.provider), database, state, report, look_first=resumed)
    answers: dict[str, ChatResponse | errors.AIError] = {}
    batch: dict[str, Any] = {}
    if state is not None and not state.finished and state.batch_id is not None:
        driver = await _driver(ai, state.provider)
        polled = await _poll(driver, state, poll_interval, report, stop)
        if polled is None:
            return None
        batch = polled
        answers = await _download(driver, state, report)
        await save_job(database, state)
    # Answers recorded by an earlier run come back from the ledger inside run_batch.
    waiting = {item.id for item in unanswered}
    replayable = [item for item in pending if item.id not in waiting or isinstance(answers.get(item.id), ChatResponse)]
    replayed = {item.id for item in replayable}
    for item in pending:
        if item.id in replayed or item.id in refused:
            continue
        found = answers.get(item.id)
        error = found if isinstance(found, errors.AIError) else _missing(state, batch)
        failed = BatchResult.failed(item.id, error, batch_conversation_id(job, item.id))
        failed.model = item.model
        finish(failed)
    await _record(ai, job, replayable, answers, finish)
    if state is not None and state.status != "done":
        state.status = "done"
        await save_job(database, state)
    return results


def _missing(state: JobState | None, batch: dict[str, Any]) -> errors.AIError:
    """The error of an item the batch returned nothing for (it failed, expired or was cancelled)."""
    status = state.status if state is not None else "not submitted"
    found = (batch.get("errors") or {}).get("data") or []
    why = f": {found[0].get('message')}" if found and isinstance(found[0], dict) and found[0].get("message") else ""
    return errors.ProviderError(f"the provider batch returned no result for this item (batch {status}{why})")


def _provider_of(ai: AI, items: list[BatchItem]) -> str:
    from ai_core.pipeline.providers import split_model

    default = ai.services.settings.default_model
    providers = {split_model(item.model or default)[0] for item in items}
    if len(providers) > 1:
        raise errors.RequestValidationError(
            f"a provider batch goes to one provider; these items use {', '.join(sorted(providers))}: "
            "split the file by provider"
        )
    return providers.pop() if providers else split_model(default)[0]


async def _driver(ai: AI, provider: str) -> OpenAIChatDriver:
    from ai_core.dialects.openai_chat.driver import OpenAIChatDriver

    driver = await ai.providers.driver(provider)
    if not isinstance(driver, OpenAIChatDriver):
        raise errors.ConfigurationError(
            f"provider {provider!r} has no batch API ai-core can use (only the OpenAI Chat dialect's /v1/batches)"
        )
    return driver


async def _upload_items(
    ai: AI, job: str, provider: str, items: list[BatchItem], finish: Callable[[BatchResult], Any],
    report: StatusCallback,
) -> tuple[JobState | None, set[str]]:  # fmt: skip
    """Admit the items through the budgets, upload their requests, and save the job's row.

    Returns the job and the ids of the items refused here (each already given its result).
    """
    database = ai.services.database
    assert database is not None
    driver = await _driver(ai, provider)
    lines: list[bytes] = []
    refused: set[str] = set()
    admission = _Admission(ai)
    try:
        for item in items:
            try:
                body = await admission.body(item, provider, driver, batch_conversation_id(job, item.id))
            except errors.AIError as exc:
                result = BatchResult.failed(item.id, exc, batch_conversation_id(job, item.id))
                result.model = item.model
                finish(result)
                refused.add(item.id)
                continue
            line = {"custom_id": item.id, "method": "POST", "url": "/v1/chat/completions", "body": body}
            lines.append(json.dumps(line, ensure_ascii=False).encode())
        if not lines:
            return None, refused
        content = b"\n".join(lines) + b"\n"
        state = JobState(
            id=job_id(job), name=job[:1024], provider=provider, status="uploading",
            items_digest=hashlib.sha256(content).hexdigest(), item_count=len(lines),
        )  # fmt: skip
        uploaded = await _upload(driver, content, f"ai-core-{state.id}.jsonl")
        state.input_file_id = str(uploaded["id"])
        state.status = "uploaded"
        await save_job(database, state)
        report("uploaded", uploaded)
        return state, refused
    finally:
        with anyio.CancelScope(shield=True):
            await admission.release()


class _Admission:
    """The budget layers' check of every item before the batch is paid for.

    Each item is admitted as the pipeline would admit it (per-request caps, a
    ``max_tokens`` where a hard budget needs one, refusal when it cannot fit),
    and its hold is kept until every item is admitted, so the batch as a whole
    must fit. The holds are then released: the answers are charged at their
    real cost when they are recorded.
    """

    def __init__(self, ai: AI) -> None:
        from ai_core.budgets.middleware import BudgetMiddleware

        self.ai = ai
        self.layers = [layer for layer in ai.middleware if isinstance(layer, BudgetMiddleware)]
        self.holds: list[tuple[Any, Any]] = []

    async def body(self, item: BatchItem, provider: str, driver: OpenAIChatDriver, conversation_id: str) -> Any:
        from ai_core.dialects.openai_chat import wire
        from ai_core.pipeline.tools import ToolBox

        builder = _builder(self.ai, item, None, resume=False)
        _, model = builder._resolve_model()
        request = builder._request(provider, model, list(item.messages), ToolBox())
        call = Call(
            request=request, services=self.ai.services, conversation_id=conversation_id, user=item.user,
            tenant=item.tenant, tags=item.tags, state={"max_cost": item.max_cost, "fallbacks": ()},
        )  # fmt: skip
        for layer in self.layers:
            call, hold = await layer._admit(call)
            if hold is not None:
                self.holds.append((layer, hold))
        return wire.build_body(call.request, driver.profile)

    async def release(self) -> None:
        for layer, hold in self.holds:
            await layer._run(self.ai.services, "release", hold)
        self.holds.clear()


async def _create_batch(
    driver: OpenAIChatDriver, database: Any, state: JobState, report: StatusCallback, *, look_first: bool
) -> None:
    """Create the batch for the uploaded file. ``look_first``: an earlier run may have created
    it and stopped before saving its id, so first look for a recent batch of that file."""
    if look_first:
        listed = await driver.get_json("/batches", params={"limit": 100})
        for batch in listed.get("data") or []:
            if isinstance(batch, dict) and batch.get("input_file_id") == state.input_file_id:
                state.batch_id = str(batch["id"])
                state.status = "submitted"
                await save_job(database, state)
                report("submitted", batch)
                return
    created = await driver.post_json(
        "/batches",
        {
            "input_file_id": state.input_file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {"ai_core_job": state.id},
        },
    )
    state.batch_id = str(created["id"])
    state.status = "submitted"
    await save_job(database, state)
    report("submitted", created)


async def _upload(driver: OpenAIChatDriver, content: bytes, filename: str) -> dict[str, Any]:
    """``POST /files`` as multipart/form-data, built here so any transport can send it."""
    from ai_core.pipeline.store import new_id

    boundary = f"ai-core-{new_id()}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/jsonl\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    payload: dict[str, Any] = await driver._request_json("POST", "/files", content=body, headers=headers)
    return payload


async def _poll(
    driver: OpenAIChatDriver, state: JobState, interval: float, report: StatusCallback, stop: anyio.Event | None
) -> dict[str, Any] | None:
    """The batch object once it has ended; None if ``stop`` was set first."""
    while True:
        batch: dict[str, Any] = await driver.get_json(f"/batches/{state.batch_id}")
        report("polled", batch)
        status = str(batch.get("status"))
        if status in TERMINAL:
            state.output_file_id = batch.get("output_file_id")
            state.error_file_id = batch.get("error_file_id")
            state.status = status
            return batch
        if stop is not None:
            with anyio.move_on_after(interval):
                await stop.wait()
            if stop.is_set():
                return None
        else:
            await anyio.sleep(interval)


async def _download(
    driver: OpenAIChatDriver, state: JobState, report: StatusCallback
) -> dict[str, ChatResponse | errors.AIError]:
    """Every result line, by ``custom_id``: the parsed answer or the error it carries."""
    from ai_core.dialects.openai_chat import wire

    answers: dict[str, ChatResponse | errors.AIError] = {}
    for file_id in (state.output_file_id, state.error_file_id):
        if not file_id:
            continue
        for raw in (await _file_content(driver, file_id)).splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            custom_id = str(line.get("custom_id"))
            response = line.get("response") or {}
            status = response.get("status_code")
            body = response.get("body")
            if status == 200 and isinstance(body, dict):
                model = str(body.get("model") or "")
                try:
                    answers[custom_id] = wire.parse_response(
                        body, provider=driver.provider, model=model, profile=driver.profile
                    )
                except errors.AIError as exc:
                    answers[custom_id] = exc
            else:
                error = (body or {}).get("error") if isinstance(body, dict) else None
                error = error or line.get("error") or {"message": f"failed with status {status}"}
                answers[custom_id] = wire.error_from_payload(error, driver.provider, status)
    report("downloaded", {"results": len(answers)})
    return answers


async def _file_content(driver: OpenAIChatDriver, file_id: str) -> bytes:
    from ai_core.drivers import http

    try:
        response = await driver.client.get(f"/files/{file_id}/content")
    except http.HTTPError as exc:
        raise driver.error_from_transport(exc) from exc
    if response.status_code >= 400:
        raise driver.error_from_response(response.status_code, response.content, response.headers)
    content: bytes = response.content
    return content


# -- recording the answers through the pipeline ---------------------------------------------------


class ReplayDriver(Driver):
    """Answers each request with the provider batch's downloaded answer for its item."""

    def __init__(self, provider: str, answers: dict[str, ChatResponse | errors.AIError]) -> None:
        from ai_core.drivers.base import ProviderConfig

        super().__init__(ProviderConfig(provider=provider))
        self.answers = answers

    async def send(self, request: ChatRequest) -> ChatResponse:
        answer = self.answers.get(request.metadata.get(ITEM_KEY, ""))
        if not isinstance(answer, ChatResponse):  # never: only answered items are replayed
            raise errors.MalformedResponseError("no downloaded answer for this item", provider=self.provider)
        return answer

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise errors.RequestValidationError("a provider batch is never streamed")


class BatchPrice(Middleware):
    """Prices the calls it sees at the provider's batch discount."""

    name = "provider_batch_price"
    order = 950

    async def rewrite(self, call: Call) -> Call:
        from ai_core.costs.pricing import OPENAI_BATCH_DISCOUNT

        call.state["price_discount"] = (OPENAI_BATCH_DISCOUNT, f"batch -{OPENAI_BATCH_DISCOUNT * 100:.0f}%")
        return call


async def _record(
    ai: AI, job: str, items: list[BatchItem], answers: dict[str, ChatResponse | errors.AIError],
    finish: Callable[[BatchResult], Any],
) -> None:  # fmt: skip
    """Each answered item through the pipeline (budgets, price, ledger, events), by an ``AI``
    of its own whose provider replays the downloaded answers: no retries, rate limits or
    response cache, budgets that count without refusing. Its listeners are the installed
    plugins' (webhooks, analytics, ...); ones added to ``ai`` alone do not see these events."""
    if not items:
        return
    from ai_core.app import AI

    provider = _provider_of(ai, items)
    # Paid already: every budget counts these answers, none may refuse them (admission was at submission).
    soft = [
        {**b, "hard": False, "per_request": None, "unknown_cost": "count_as",
         "unknown_cost_amount": b.get("unknown_cost_amount") or 0}
        for b in ai.services.settings.budgets
    ]  # fmt: skip
    update: dict[str, Any] = {"retry_attempts": 0, "budgets": soft}
    fields = type(ai.services.settings).model_fields
    if "rate_limits" in fields:  # replaying sends nothing: no limit may delay or refuse it
        update["rate_limits"] = []
    if "response_cache_ttl" in fields:  # and no cached answer may stand in for the one paid for
        update["response_cache_ttl"] = None
    settings = ai.services.settings.model_copy(update=update)
    replay = AI(
        settings=settings,
        registry=ai.services.registry,
        drivers={provider: ReplayDriver(provider, answers)},
        middleware=[BatchPrice()],
    )
    try:
        tagged = [replace(item, metadata={**item.metadata, ITEM_KEY: item.id}, max_cost=None) for item in items]
        await run_batch(replay, tagged, concurrency=16, job=job, on_result=finish)
    finally:
        with anyio.CancelScope(shield=True):
            await replay.aclose()


async def run_provider_batch_cli(
    items: list[Any], writer: Any, job: str, poll_interval: float, no_persist: bool, show: bool, force: bool,
    already: int,
) -> tuple[Any, str | None]:  # fmt: skip
    """``ai batch --provider-batch``: the job with status lines on stderr and the progress bar while recording."""
    import click

    from ai_core.app import AI
    from ai_core.batch.progress import BatchProgress
    from ai_core.cli.batch_cmd import _watch_signals, single_error

    if no_persist:
        raise click.UsageError("--provider-batch keeps its job state in the database: drop --no-persist")
    ai = AI()
    stop = anyio.Event()
    interrupted: list[str] = []
    bar = BatchProgress(already + len(items), enabled=show, force=force, already=already, label="recording")
    last: list[str] = []

    def on_status(phase: str, details: dict[str, Any]) -> None:
        if phase == "polled":
            counts = details.get("request_counts") or {}
            line = f"provider batch {details.get('id')}: {details.get('status')}"
            if counts.get("total"):
                line += f", {counts.get('completed', 0)}/{counts['total']} done, {counts.get('failed', 0)} failed"
        elif phase == "downloaded":
            line = f"downloaded {details.get('results', 0)} result(s)"
        else:
            line = f"{phase}: {details.get('id')}"
        if last[-1:] != [line]:
            last.append(line)
            click.echo(line, err=True)

    def on_result(result: BatchResult) -> None:
        writer.write(result)
        bar.add(result)

    outcome: list[BatchResult] | None = []
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_signals, stop, group.cancel_scope, interrupted)
            with bar:
                outcome = await run_provider_batch(
                    ai, items, job=job, poll_interval=poll_interval, on_result=on_result, on_status=on_status,
                    stop=stop,
                )  # fmt: skip
            group.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise single_error(group) from None
    finally:
        with anyio.CancelScope(shield=True):
            await ai.aclose()
    if outcome is None and not interrupted:
        interrupted.append("int")
    if outcome is None:
        click.echo("the provider keeps working on the batch meanwhile", err=True)
    return bar, (interrupted[-1] if interrupted else None)
