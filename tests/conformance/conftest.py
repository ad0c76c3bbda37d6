"""Fixtures shared by the conformance runs against the local servers."""

from __future__ import annotations

from servers.fixtures import _openai_server_session, _xai_server_session, openai_server, xai_server  # noqa: F401
