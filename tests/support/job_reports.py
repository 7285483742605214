"""The job reports a run leaves under the root, and the findings serve's demo plants in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def latest_report(root: Path, job: str) -> dict[str, Any]:
    reports = sorted((root / "data/a2a-x402/reports" / job).glob("*.json"))
    assert reports, f"no report for {job}"
    return json.loads(reports[-1].read_text())


def assert_demo_findings(reports: dict[str, dict[str, Any]]) -> None:
    """What the demo plants, as each batch job reports it (the same on files and on PostgreSQL)."""
    assert reports["ledger-sync"]["counts"]["missing_in_ledger"] >= 1
    assert reports["ledger-sync"]["counts"]["amount_mismatch"] >= 1
    assert reports["stale-payments"]["counts"]["stale_authorization"] >= 1
    assert {f["kind"] for f in reports["monitor-alerts"]["findings"]} == {"low_balance", "failure_streak"}
    assert reports["weekly-report"]["totals"]["spend_usd"] != "0.000000"
