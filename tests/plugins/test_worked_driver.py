"""The worked driver of docs/drivers.md (examples/echo_wire), and the helpers that guide documents."""

from __future__ import annotations

import pytest

from ai_core import RateLimitError, error_for_status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 422, 429, 500, 503, 418])
def test_error_for_status_fills_status_code(status: int) -> None:
    error = error_for_status(status, "msg", headers={"retry-after": "3"}, provider="echo")
    assert error.status_code == status and error.provider == "echo"
    if status == 429:
        assert isinstance(error, RateLimitError) and error.retry_after == 3.0


def test_error_for_status_keeps_a_status_code_given() -> None:
    assert error_for_status(503, "overloaded", status_code=529).status_code == 529
