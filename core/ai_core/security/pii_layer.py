"""PIIMiddleware: redact personal data and secrets on the way to the provider, back, and into the store.

Configuration (``pii = {...}`` in the config file, ``AI_PII`` as JSON, or
``PIIMiddleware(...)`` given to one ``AI``):

* ``detectors``: names of the detectors to use (default: all, including those
  plugins register with ``register_pii_detectors``);
* ``redact``: ``"request"`` (what is sent to the provider), ``"response"`` (what
  comes back to the caller) or ``"both"`` (default);
* ``store``: what the conversation store keeps:

  - ``"redacted"`` (default): user turns and answers are stored redacted,
    whichever direction is redacted in flight: nothing the detectors find
    reaches the database;
  - ``"original"``: stored as typed and as answered (only the flight is redacted);
  - ``"both"``: stored redacted, and the original of every changed message is
    kept in ``ai_pii_originals``, encrypted with the credential key (the one
    ``ai keys`` uses; ``AI_ENCRYPTION_KEY`` or the key file), found by the
    SHA-256 of the redacted text.

Streams are redacted as they arrive, holding back at most the longest
detector's match length (539 characters with the built-ins); a stream
that fails never releases the held text unredacted. Order 30: inside the
policy layer, outside budgets and caches (a cache never stores the original).
The counts of what was redacted go to ``call.state["pii_redactions"]`` for the
audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ai_core import errors
from ai_core.pipeline.middleware import Call, Middleware, Next, StreamNext
from ai_core.security.pii import Detector, PIIFilter, StreamRedactor
from ai_core.types import (
    ChatResponse,
    Message,
    ReasoningDelta,
    ReasoningPart,
    StreamCompleted,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolResultPart,
)

if TYPE_CHECKING:
    from ai_core.config import Settings
    from ai_core.services import Services

__all__ = ["PIIMiddleware", "detectors_from_plugins"]

Direction = Literal["request", "response", "both"]
StorePolicy = Literal["redacted", "original", "both"]


def detectors_from_plugins(services: Services) -> list[Detector]:
    found: list[Detector] = []
    hook = getattr(services.registry.hook, "register_pii_detectors", None)
    if hook is not None:
        hook(register=found.append)
    return found


class PIIMiddleware(Middleware):
    name = "pii"
    order = 30

    def __init__(
        self,
        *,
        detectors: Iterable[str] | None = None,
        redact: Direction | None = None,
        store: StorePolicy | None = None,
        extra_detectors: Iterable[Detector] = (),
    ) -> None:
        self._given: dict[str, Any] | None = None
        if detectors is not None or redact is not None or store is not None:
            self._given = {"detectors": detectors, "redact": redact or "both", "store": store or "redacted"}
        self._extra = list(extra_detectors)
        self._filter: PIIFilter | None = None
        self._settings: Settings | None = None
        self._keyring: Any = None
        self._stored_counts: dict[str | None, dict[str, int]] = {}
        """Redactions made when a turn was stored, reported with that turn's call."""

    # -- configuration ---------------------------------------------------------

    def enabled(self, settings: Settings) -> bool:
        config = self._config(settings)
        if config is None:
            return False
        if config["store"] == "both" and not settings.persistence:
            raise errors.ConfigurationError(
                "the PII store policy 'both' keeps originals in the database: turn persistence on"
            )
        return True

    def _config(self, settings: Settings) -> dict[str, Any] | None:
        if self._given is not None:
            return self._given
        raw = dict(settings.pii)
        if not raw or raw.get("enabled") is False:
            return None
        redact, store = raw.get("redact", "both"), raw.get("store", "redacted")
        if redact not in ("request", "response", "both"):
            raise errors.ConfigurationError(f"pii.redact must be request, response or both, got {redact!r}")
        if store not in ("redacted", "original", "both"):
            raise errors.ConfigurationError(f"pii.store must be redacted, original or both, got {store!r}")
        return {"detectors": raw.get("detectors"), "redact": redact, "store": store}

    def _setup(self, services: Services) -> tuple[PIIFilter, dict[str, Any]]:
        config = self._config(services.settings) or {"detectors": None, "redact": "both", "store": "redacted"}
        if self._filter is None or self._settings is not services.settings:
            extra = [*self._extra, *detectors_from_plugins(services)]
            self._filter = PIIFilter.with_detectors(config["detectors"], extra)
            self._settings = services.settings
        return self._filter, config

    stores_rewrite = True
    """The turn's new messages are stored as :meth:`rewrite` leaves them: redacted unless ``store="original"``."""

    # -- requests ------------------------------------------------------------------

    async def rewrite(self, call: Call) -> Call:
        """The stored form of the turn: redacted (originals kept encrypted under ``both``), or as typed."""
        pii, config = self._setup(call.services)
        if config["store"] == "original":
            return call
        stored = await self._redact_request(call, pii, keep_originals=config["store"] == "both")
        counts = stored.state.get("pii_redactions", {}).get("request")
        if counts:
            _add(self._stored_counts.setdefault(call.conversation_id, {}), counts)
        return stored

    def _take_stored_counts(self, call: Call) -> None:
        counts = self._stored_counts.pop(call.conversation_id, None)
        if counts:
            _add(call.state.setdefault("pii_redactions", {}).setdefault("request", {}), counts)

    async def _redact_request(self, call: Call, pii: PIIFilter, *, keep_originals: bool) -> Call:
        request = call.request
        counts: dict[str, int] = {}
        originals: list[tuple[str, str, str]] = []
        messages = [_redact_message(pii, m, counts, originals) for m in request.messages]
        update: dict[str, Any] = {"messages": messages}
        if request.system:
            system, found = pii.redact(request.system)
            _add(counts, found)
            update["system"] = system
        if not counts:
            return call
        _add(call.state.setdefault("pii_redactions", {}).setdefault("request", {}), counts)
        if keep_originals and originals:
            await self._keep_originals(call, originals)
        return call.with_request(request.model_copy(update=update))

    async def __call__(self, call: Call, call_next: Next) -> ChatResponse:
        pii, config = self._setup(call.services)
        self._take_stored_counts(call)
        if config["redact"] in ("request", "both"):
            call = await self._redact_request(call, pii, keep_originals=False)
        self._filter_stored(call, pii, config)
        response = await call_next(call)
        await self._keep_answer_originals(call)
        if config["redact"] in ("response", "both"):
            response = self._redact_response(call, pii, response)
        return response

    async def stream(self, call: Call, call_next: StreamNext) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        pii, config = self._setup(call.services)
        self._take_stored_counts(call)
        if config["redact"] in ("request", "both"):
            call = await self._redact_request(call, pii, keep_originals=False)
        self._filter_stored(call, pii, config)
        if config["redact"] not in ("response", "both"):
            async for event in call_next(call):
                if isinstance(event, StreamCompleted):
                    await self._keep_answer_originals(call)
                yield event
            return
        text, reasoning = StreamRedactor(pii), StreamRedactor(pii)
        async for event in call_next(call):
            if isinstance(event, TextDelta):
                released = text.feed(event.text)
                if released:
                    yield TextDelta(released)
            elif isinstance(event, ReasoningDelta):
                released = reasoning.feed(event.text)
                if released:
                    yield ReasoningDelta(released)
            elif isinstance(event, StreamCompleted):
                rest, thought = text.flush(), reasoning.flush()
                if thought:
                    yield ReasoningDelta(thought)
                if rest:
                    yield TextDelta(rest)
                await self._keep_answer_originals(call)
                yield StreamCompleted(self._redact_response(call, pii, event.response))
            else:
                yield event

    # -- answers and storage ----------------------------------------------------------

    def _redact_response(self, call: Call, pii: PIIFilter, response: ChatResponse) -> ChatResponse:
        counts: dict[str, int] = {}
        message = _redact_message(pii, response.message, counts, [])
        if not counts:
            return response
        _add(call.state.setdefault("pii_redactions", {}).setdefault("response", {}), counts)
        return response.model_copy(update={"message": message})

    def _filter_stored(self, call: Call, pii: PIIFilter, config: Mapping[str, Any]) -> None:
        """Have the ledger store the answer redacted (the endpoint applies ``store_filters``)."""
        if config["store"] == "original":
            return

        def stored_form(response: ChatResponse) -> ChatResponse:
            originals: list[tuple[str, str, str]] = []
            message = _redact_message(pii, response.message, {}, originals)
            if originals and config["store"] == "both":
                call.state.setdefault("pii_originals", []).extend(originals)
            return response if message is response.message else response.model_copy(update={"message": message})

        call.state.setdefault("store_filters", []).append(stored_form)

    async def _keep_originals(self, call: Call, originals: list[tuple[str, str, str]]) -> None:
        database = call.services.database
        if database is None:
            return
        keyring = self._keys(call.services.settings)
        rows = [
            {
                "conversation_id": call.conversation_id,
                "role": role,
                "redacted_sha256": hashlib.sha256(redacted.encode()).hexdigest(),
                "encrypted_original": keyring.encrypt(original),
                "key_fingerprint": keyring.primary_fingerprint,
            }
            for role, redacted, original in originals
        ]
        await database.run(_insert_originals, database, rows)

    def _keys(self, settings: Settings) -> Any:
        if self._keyring is None:
            from ai_core.credentials.keys import KeyConfig, load_keyring

            self._keyring = load_keyring(KeyConfig.from_settings(settings), create=True)
        return self._keyring

    async def _keep_answer_originals(self, call: Call) -> None:
        originals = call.state.pop("pii_originals", None)
        if originals:
            await self._keep_originals(call, originals)


def _insert_originals(database: Any, rows: list[dict[str, Any]]) -> None:
    from ai_core.security.tables import PIIOriginal
    from ai_core.storage.base import table_of

    with database.write() as conn:
        conn.execute(table_of(PIIOriginal).insert(), rows)


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for kind, number in counts.items():
        into[kind] = into.get(kind, 0) + number


def _redact_message(
    pii: PIIFilter, message: Message, counts: dict[str, int], originals: list[tuple[str, str, str]]
) -> Message:
    parts: list[Any] = []
    changed = False
    for part in message.parts:
        if isinstance(part, TextPart | ReasoningPart):
            text, found = pii.redact(part.text)
            if found:
                changed = True
                _add(counts, found)
                originals.append((message.role, text, part.text))
                part = part.model_copy(update={"text": text})
        elif isinstance(part, ToolResultPart):
            text, found = pii.redact(part.content)
            if found:
                changed = True
                _add(counts, found)
                originals.append((message.role, text, part.content))
                part = part.model_copy(update={"content": text})
        parts.append(part)
    return message.model_copy(update={"parts": parts}) if changed else message
