"""Counts and durations read as a person would write them."""

from __future__ import annotations

import pytest

from genesis_payments.core.wording import counted, duration
from genesis_payments.jobs.job_messages import ledger_sync_alert, ledger_sync_summary, stale_alert


@pytest.mark.parametrize("count, text", [(0, "0 discrepancies"), (1, "1 discrepancy"), (2, "2 discrepancies")])
def test_counted_agrees_with_its_number(count: int, text: str) -> None:
    assert counted(count, "discrepancy", "discrepancies") == text


def test_counted_adds_s_when_no_plural_is_given() -> None:
    assert [counted(n, "payment") for n in (1, 3)] == ["1 payment", "3 payments"]


@pytest.mark.parametrize("seconds, text", [
    (3600, "1 hour"), (5400, "1 hour 30 minutes"), (61, "1 minute 1 second"), (45, "45 seconds"), (0, "0 seconds"),
])
def test_duration_names_its_parts(seconds: int, text: str) -> None:
    assert duration(seconds) == text


def test_job_messages_say_one_discrepancy_and_two_discrepancies() -> None:
    one = [{"kind": "missing_in_ledger", "payment_id": "pay_1", "amount_usd": "1.000000"}]
    assert ledger_sync_alert({"missing_in_ledger": 1}, one)["embeds"][0]["title"] == "Ledger sync: 1 discrepancy"
    summary = ledger_sync_summary({"missing_in_ledger": 1, "amount_mismatch": 1}, {"payments": 3}, 0)
    assert summary["embeds"][0]["title"] == "Nightly ledger sync: 2 discrepancies"
    stale = [{"kind": "stale_authorization", "payment_id": "pay_1", "amount_usd": "1.000000", "agent": "a",
              "vendor": "v", "age_seconds": 1200}]
    assert stale_alert(stale)["embeds"][0]["title"] == "1 payment stuck between authorization and capture"
