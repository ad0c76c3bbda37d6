"""Every call a provider answered is in the ledger exactly once, whatever fails afterwards.

Against the local Chat Completions server, on SQLite and PostgreSQL, both anyio
backends: the ledger row is written when the answer arrives, and what goes
wrong later only changes its outcome. Totals, ``ai_cost_tracking`` and a rebuild
from the ledger always agree with the rows.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from servers.fixtures import TEST_API_KEY
from servers.openai_compat import Completion, ErrorReply, Fault, OpenAICompatServer, RawReply, ToolCall, Usage
from sqlalchemy import func, select

from ai_core import AI, MalformedResponseError, ProviderSwitched, RequestValidationError, StreamCompleted, TextDelta
from ai_core.errors import ConfigurationError, StreamInterruptedError, ToolLoopError
from ai_core.jobs.generate_analytics import generate_analytics
from ai_core.storage.analytics_tables import CostTracking
from ai_core.storage.conversation_tables import Conversation, FailedAttempt, StoredMessage

pytestmark = pytest.mark.anyio

MESSAGES = StoredMessage.__table__


def make_ai(server: OpenAICompatServer, database_url: str, provider: str = "openai", **settings: Any) -> AI:
    config = {"api_key": TEST_API_KEY, "base_url": server.base_url, "retry_attempts": 0, **settings}
    return AI(database_url=database_url, providers={provider: config})


def ledger(ai: AI, conversation_id: str) -> list[Any]:
    with ai.services.database.read() as conn:
        return list(
            conn.execute(
                select(MESSAGES).where(MESSAGES.c.conversation_id == conversation_id).order_by(MESSAGES.c.position)
            )
        )


def assert_books_agree(ai: AI) -> None:
    """Conversation totals, cost tracking and a rebuild all equal the ledger rows."""
    database = ai.services.database
    with database.read() as conn:
        rows = list(conn.execute(select(MESSAGES).where(MESSAGES.c.billable.is_(True))))
        conversations = list(conn.execute(select(Conversation.__table__)))
    spent = sum((r.cost for r in rows if r.cost is not None), Decimal(0))
    assert sum((c.total_cost for c in conversations), Decimal(0)) == spent
    assert sum(c.total_input_tokens for c in conversations) == sum(r.input_tokens for r in rows)
    assert sum(c.unknown_cost_count for c in conversations) == sum(1 for r in rows if not r.cost_known)

    def tracked() -> tuple[Decimal, int]:
        with database.read() as conn:
            found = list(conn.execute(select(CostTracking.__table__)))
        return sum((t.cost for t in found), Decimal(0)), sum(t.requests for t in found)

    assert tracked() == (spent, len(rows))
    generate_analytics(database)  # `ai usage rebuild`: never loses a charged call
    assert tracked() == (spent, len(rows))


class Answer(BaseModel):
    city: str


async def test_a_reply_that_does_not_parse_is_charged_and_marked(openai_server, database_url) -> None:
    openai_server.reply(Completion(text="not json at all", usage=Usage(prompt_tokens=100, completion_tokens=50)))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").output(Answer).user("Where?")
        with pytest.raises(MalformedResponseError):
            await chat.asend()
        rows = ledger(ai, chat.id)
        assert [(r.role, r.outcome) for r in rows] == [("user", None), ("assistant", "parse_failed")]
        assert rows[1].cost > 0 and rows[1].input_tokens == 100
        assert_books_agree(ai)


async def test_the_tool_round_limit_keeps_every_round_and_a_usable_conversation(
    openai_server, database_url, monkeypatch
) -> None:
    monkeypatch.setenv("AI_TOOL_ROUNDS", "2")

    def lookup(city: str) -> str:
        """Look a city up."""
        return f"{city}: sunny"

    def answer(request: Any) -> Completion:
        if request.json["messages"][-1]["role"] == "user" and request.json["messages"][-1]["content"] == "again":
            return Completion(text="done")
        call_id = f"c{len(openai_server.requests)}"
        return Completion(text="", tool_calls=[ToolCall("lookup", {"city": "Oslo"}, id=call_id)])

    openai_server.handler = answer
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").tools([lookup]).user("Weather?")
        with pytest.raises(ToolLoopError):
            await chat.asend()
        rows = ledger(ai, chat.id)
        calls = [r for r in rows if r.billable]
        assert [r.outcome for r in calls] == ["answered", "answered", "tool_round_limit"]
        assert all(r.cost > 0 for r in calls)
        # Every tool call is answered (the last ones with an error), so the conversation can go on.
        assert rows[-1].role == "tool" and "limit" in json.dumps(rows[-1].parts)
        reply = await chat.user("again").asend()
        assert reply.text == "done"
        assert_books_agree(ai)


async def test_a_stream_cut_without_usage_is_charged_an_estimate(openai_server, database_url) -> None:
    openai_server.reply(Completion(text="x" * 300, chunk_size=30, fault=Fault.cut_off(after=4)))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("Tell me a story")
        delivered = ""
        with pytest.raises(StreamInterruptedError):
            async for event in chat.astream():
                if isinstance(event, TextDelta):
                    delivered += event.text
        assert delivered
        (answer,) = [r for r in ledger(ai, chat.id) if r.billable]
        assert answer.outcome == "interrupted" and answer.usage_estimated and answer.streamed
        assert answer.output_tokens >= len(delivered) // 4 and answer.input_tokens > 0 and answer.cost > 0
        assert_books_agree(ai)


async def test_a_stream_cut_after_usage_is_charged_what_the_provider_reported(xai_server, database_url) -> None:
    # xAI reports the running usage on every chunk.
    xai_server.reply(
        Completion(
            text="y" * 200,
            chunk_size=20,
            usage=Usage(prompt_tokens=40, completion_tokens=60),
            fault=Fault.cut_off(after=4),
        )
    )
    async with make_ai(xai_server, database_url, provider="xai") as ai:
        chat = ai.conversation("xai/grok-4.3").user("Go")
        with pytest.raises(StreamInterruptedError):
            async for _ in chat.astream():
                pass
        (answer,) = [r for r in ledger(ai, chat.id) if r.billable]
        assert answer.outcome == "interrupted" and not answer.usage_estimated
        assert answer.input_tokens == 40 and answer.cost > 0
        assert_books_agree(ai)


async def test_abandoning_a_stream_after_text_records_it(openai_server, database_url) -> None:
    openai_server.reply(Completion(text="z" * 400, chunk_size=10))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("Go")
        stream = chat.astream()
        async for event in stream:
            if isinstance(event, TextDelta):
                break
        await stream.aclose()  # type: ignore[attr-defined]
        (answer,) = [r for r in ledger(ai, chat.id) if r.billable]
        assert answer.outcome == "interrupted" and answer.cost > 0
        assert_books_agree(ai)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_empty_answer_is_an_error_never_a_free_success(openai_server, database_url, stream) -> None:
    if stream:
        openai_server.reply(RawReply(body=b"data: [DONE]\n\n", content_type="text/event-stream"))
    else:
        body = {"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini", "choices": []}
        openai_server.reply(RawReply(body=json.dumps(body).encode(), content_type="application/json"))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("hi")
        with pytest.raises(MalformedResponseError):
            if stream:
                async for _ in chat.astream():
                    pass
            else:
                await chat.asend()
        assert not [r for r in ledger(ai, chat.id) if r.billable]
        with ai.services.database.read() as conn:
            assert conn.execute(select(func.count()).select_from(FailedAttempt.__table__)).scalar() == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_usage_never_sent_is_estimated_not_zero(openai_server, database_url, stream) -> None:
    chunks = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": "a fine answer"}, "finish_reason": None}
            ],
        },
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        },
    ]
    if stream:
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        openai_server.reply(RawReply(body=body.encode(), content_type="text/event-stream"))
    else:
        whole = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "a fine answer"}, "finish_reason": "stop"}
            ],
        }
        openai_server.reply(RawReply(body=json.dumps(whole).encode(), content_type="application/json"))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("hi")
        if stream:
            reply = [e async for e in chat.astream()][-1].response
        else:
            reply = await chat.asend()
        assert reply.usage.estimated and reply.usage.output_tokens > 0 and reply.cost.total > 0
        (answer,) = [r for r in ledger(ai, chat.id) if r.billable]
        assert answer.usage_estimated and answer.outcome == "answered"
        assert_books_agree(ai)


async def test_nul_and_lone_surrogates_keep_the_conversation_usable(openai_server, database_url) -> None:
    openai_server.reply(Completion(text="bad\x00byte and \ud800 half"), Completion(text="fine"))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("prompt with \udcff and \x00")
        first = await chat.asend()
        assert first.text == "bad\ufffdbyte and \ufffd half"
        second = await chat.user("next").asend()  # the stored history is sent again
        assert second.text == "fine"
        sent = openai_server.chat_bodies[-1]["messages"]
        assert sent[0]["content"] == "prompt with \ufffd and \ufffd"
        resumed = ai.conversation(id=chat.id)
        await resumed._load(ai.services.store)
        assert [m.text for m in resumed.messages][:2] == ["prompt with \ufffd and \ufffd", first.text]
        assert_books_agree(ai)


@pytest.mark.parametrize("field", ["user", "tenant", "tag", "model"])
async def test_names_longer_than_their_columns_are_refused_before_any_call(openai_server, database_url, field) -> None:
    long = "n" * 256
    async with make_ai(openai_server, database_url) as ai:
        chat = {
            "user": lambda: ai.conversation("openai/gpt-4o-mini", user=long),
            "tenant": lambda: ai.conversation("openai/gpt-4o-mini", tenant=long),
            "tag": lambda: ai.conversation("openai/gpt-4o-mini", tags=[long]),
            "model": lambda: ai.conversation(f"openai/{long}"),
        }[field]()
        with pytest.raises(RequestValidationError, match=field):
            await chat.user("hi").asend()
    assert openai_server.chat_bodies == []


async def test_a_conversation_is_only_resumed_in_its_own_scope(openai_server, database_url) -> None:
    openai_server.reply(Completion(text="for A"), Completion(text="again A"))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini", tenant="A", user="ann")
        await chat.user("secret of A").asend()
        for scope in ({"tenant": "B", "user": "ann"}, {}, {"tenant": "A"}, {"tenant": "A", "user": "bob"}):
            other = ai.conversation(id=chat.id, **scope)
            with pytest.raises(ConfigurationError) as caught:
                await other.user("let me in").asend()
            assert "secret" not in str(caught.value)
        assert len(openai_server.chat_bodies) == 1  # no call was made for another scope
        same = ai.conversation(id=chat.id, tenant="A", user="ann")
        assert (await same.user("more").asend()).text == "again A"
        assert openai_server.chat_bodies[-1]["messages"][0]["content"] == "secret of A"
        rows = ledger(ai, chat.id)
        assert {r.tenant for r in rows} == {"A"} and len(rows) == 4


async def test_failed_attempts_before_a_retry_are_recorded(openai_server, database_url) -> None:
    openai_server.reply(ErrorReply.server_error(), ErrorReply.server_error(), Completion(text="third time"))
    async with make_ai(openai_server, database_url, retry_attempts=2) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("hi")
        assert (await chat.asend()).text == "third time"
        with ai.services.database.read() as conn:
            failures = list(conn.execute(select(FailedAttempt.__table__)))
        assert len(failures) == 2 and {f.conversation_id for f in failures} == {chat.id}
        assert [r.outcome for r in ledger(ai, chat.id) if r.billable] == ["answered"]


async def test_switching_provider_mid_conversation_is_announced(openai_server, database_url) -> None:
    seen: list[ProviderSwitched] = []
    async with make_ai(openai_server, database_url) as ai:
        ai.on(ProviderSwitched)(seen.append)
        chat = ai.conversation("fake/echo").user("one")
        await chat.asend()
        await chat.model("openai/gpt-4o-mini").user("two").asend()
        await ai.events.adrain()
    assert [(e.from_model, e.to_model) for e in seen] == [("fake/echo", "openai/gpt-4o-mini")]


async def test_a_failed_ledger_write_keeps_the_answer(openai_server, database_url, monkeypatch) -> None:
    from ai_core.errors import LedgerWriteError

    openai_server.reply(Completion(text="paid for"))
    async with make_ai(openai_server, database_url) as ai:
        store = ai.services.store

        async def broken(*args: Any, **kwargs: Any) -> str:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store, "record_call", broken)
        with pytest.raises(LedgerWriteError) as caught:
            await ai.conversation("openai/gpt-4o-mini").user("hi").asend()
    assert caught.value.response.text == "paid for"
    assert "No space left" in str(caught.value)


async def test_streamed_completion_is_recorded_before_the_caller_sees_it(openai_server, database_url) -> None:
    openai_server.reply(Completion(text="whole answer"))
    async with make_ai(openai_server, database_url) as ai:
        chat = ai.conversation("openai/gpt-4o-mini").user("hi")
        async for event in chat.astream():
            if isinstance(event, StreamCompleted):
                # The caller stops here, before the turn ends: the call is already in the ledger.
                assert [r.outcome for r in ledger(ai, chat.id) if r.billable] == ["answered"]
                break
        assert_books_agree(ai)


async def test_a_stream_cut_after_only_the_prompt_was_reported_still_charges_the_output(
    xai_server, database_url
) -> None:
    # Usage so far covers the prompt but (almost) none of the delivered text: the
    # delivered output is charged at least its estimate, marked estimated.
    xai_server.reply(
        Completion(
            text="w" * 300,
            chunk_size=30,
            usage=Usage(prompt_tokens=40, completion_tokens=1),
            fault=Fault.cut_off(after=6),
        )
    )
    async with make_ai(xai_server, database_url, provider="xai") as ai:
        chat = ai.conversation("xai/grok-4.3").user("Go")
        delivered = ""
        with pytest.raises(StreamInterruptedError):
            async for event in chat.astream():
                if isinstance(event, TextDelta):
                    delivered += event.text
        (answer,) = [r for r in ledger(ai, chat.id) if r.billable]
        assert answer.input_tokens == 40 and answer.usage_estimated
        assert answer.output_tokens >= len(delivered) // 3 > 1
        assert_books_agree(ai)
