"""The crash-point matrix of tests/test_buyer_crashes.py on the PostgreSQL store (§12)."""

from __future__ import annotations

import pytest

from tests.test_buyer_crashes import (  # noqa: F401  (collected here with the PostgreSQL store)
    test_a_crash_inside_authorize_then_one_retry_pays_once,
    test_a_crash_inside_cancel_then_one_retry_cancels_and_moves_nothing,
    test_a_crash_inside_capture_then_one_retry_captures_once,
)


@pytest.fixture
def store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    return "postgres"
