"""Budget alerts of monitor-alerts (§5): each budget's 80 % and 100 % thresholds, alerted once per period.

The findings come from `approvals.budget_usage` (the meta agent's own reservations). A finding is
reported by every run while it holds, but its alert goes out once per threshold per period: the
alert state (`jobs.alert_state`) keeps one entry per budget, period and threshold, with a cooldown
longer than any period, so only a threshold newly reached in this day or month is news.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genesis_payments.approvals.budget_usage import threshold_alert_key
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.alert_state import AlertState, alert_state_for
from genesis_payments.jobs.job_messages import AMBER, RED

ONCE_PER_PERIOD_SECONDS = 32 * 86_400  # longer than a month: a key names its own day or month anyway
SENT = "sent"


def _state(settings: Settings) -> AlertState:
    return alert_state_for(settings, ONCE_PER_PERIOD_SECONDS)


def new_threshold_findings(settings: Settings, findings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings whose threshold has not been alerted yet in their period."""
    state = _state(settings)
    return [f for f in findings if state.due(threshold_alert_key(f), SENT)]


def mark_threshold_alerts_sent(settings: Settings, findings: Sequence[dict[str, Any]]) -> None:
    state = _state(settings)
    for finding in findings:
        state.mark_sent(threshold_alert_key(finding), SENT)


def budget_alert(findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Alerts channel: the budgets that just reached 80 % or 100 % of their limit."""
    lines = [
        f"{f['scope']} `{f['key']}`: {f['used_usd']} of {f['limit_usd']} USDC this {f['period']} "
        f"({f['period_start']}) — {f['percent']} %"
        for f in findings
    ]
    full = any(f["percent"] >= 100 for f in findings)
    return {"embeds": [{
        "title": "Budget reached" if full else "Budget at 80 %",
        "description": "\n".join(lines[:20]) + ("\n…" if len(lines) > 20 else "")
        + "\n\nIntents over a budget are denied. Raise the limit in the policy file, or halt the agent "
        "(`genesis-payments halt --agent ID`) if the spending is unexpected.",
        "color": RED if full else AMBER,
    }]}
