"""Testing helpers for applications and plugins built on ai-core.

* an app's tests: :func:`fake_ai`, :func:`override_provider`,
  :func:`make_fake` and assertions over what a fake was sent
  (:func:`assert_called`);
* a plugin's tests: :class:`DriverConformance`, the suite every driver passes,
  with :class:`ConformanceDouble` / :class:`ConformanceProfile` to describe the
  local server double;
* any test suite: :func:`block_network` (also the ``no_network`` fixture and
  the ``--ai-block-network`` option of the pytest plugin), and
  :class:`Recording`, which records real provider exchanges to a file and
  replays them offline (also the ``ai_replay`` marker and ``--ai-record``).

Names load on first use, so the pytest plugin that lives here costs nothing at
pytest start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ai_core._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FakeDriver": "ai_core.drivers.fake",
    "fake_ai": "ai_core.testing.fakes",
    "fake_registry": "ai_core.testing.fakes",
    "make_fake": "ai_core.testing.fakes",
    "override_provider": "ai_core.testing.fakes",
    "assert_called": "ai_core.testing.assertions",
    "assert_not_called": "ai_core.testing.assertions",
    "calls_of": "ai_core.testing.assertions",
    "describe_calls": "ai_core.testing.assertions",
    "last_request": "ai_core.testing.assertions",
    "last_user_text": "ai_core.testing.assertions",
    "tool_names": "ai_core.testing.assertions",
    "NetworkBlockedError": "ai_core.testing.network",
    "block_network": "ai_core.testing.network",
    "DriverConformance": "ai_core.testing.conformance",
    "ConformanceDouble": "ai_core.testing.doubles",
    "ConformanceProfile": "ai_core.testing.doubles",
    "FakeDouble": "ai_core.testing.doubles",
    "TextReply": "ai_core.testing.doubles",
    "ToolCallReply": "ai_core.testing.doubles",
    "JsonReply": "ai_core.testing.doubles",
    "ErrorReply": "ai_core.testing.doubles",
    "StreamErrorReply": "ai_core.testing.doubles",
    "CachedReply": "ai_core.testing.doubles",
    "Received": "ai_core.testing.doubles",
    "request_key": "ai_core.testing.doubles",
    "Recording": "ai_core.testing.record",
    "RecordingError": "ai_core.testing.record",
    "ReplayMismatchError": "ai_core.testing.record",
}

__all__ = [
    "CachedReply",
    "ConformanceDouble",
    "ConformanceProfile",
    "DriverConformance",
    "ErrorReply",
    "FakeDouble",
    "FakeDriver",
    "JsonReply",
    "NetworkBlockedError",
    "Received",
    "Recording",
    "RecordingError",
    "ReplayMismatchError",
    "StreamErrorReply",
    "TextReply",
    "ToolCallReply",
    "assert_called",
    "assert_not_called",
    "block_network",
    "calls_of",
    "describe_calls",
    "fake_ai",
    "fake_registry",
    "last_request",
    "last_user_text",
    "make_fake",
    "override_provider",
    "request_key",
    "tool_names",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ai_core.drivers.fake import FakeDriver
    from ai_core.testing.assertions import (
        assert_called,
        assert_not_called,
        calls_of,
        describe_calls,
        last_request,
        last_user_text,
        tool_names,
    )
    from ai_core.testing.conformance import DriverConformance
    from ai_core.testing.doubles import (
        CachedReply,
        ConformanceDouble,
        ConformanceProfile,
        ErrorReply,
        FakeDouble,
        JsonReply,
        Received,
        StreamErrorReply,
        TextReply,
        ToolCallReply,
        request_key,
    )
    from ai_core.testing.fakes import fake_ai, fake_registry, make_fake, override_provider
    from ai_core.testing.network import NetworkBlockedError, block_network
    from ai_core.testing.record import Recording, RecordingError, ReplayMismatchError
