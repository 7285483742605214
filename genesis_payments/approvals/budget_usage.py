"""How much of each budget of §8 is used now: the reservations of `SpendState` against the policy.

The sums are the meta agent's own (`SpendState`, fed the same lines of the same two files), so the
`budget_threshold` findings, the `payment_budget_used_ratio` gauge and `status` say exactly what
the next decision would be checked against. `SpendFollower` reads only what was appended since its
last call (the exporter keeps one); monitor-alerts and `status` make a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from genesis_payments.approvals.halts import HaltBook
from genesis_payments.approvals.policy import Policy
from genesis_payments.approvals.spend_checkpoint import load_spend_checkpoint
from genesis_payments.approvals.spend_state import SpendState
from genesis_payments.core.money import format_usd, from_micro
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.ledgers.approval_log import LogView, open_approval_log
from genesis_payments.ledgers.sources import payment_event_follower

THRESHOLDS = (100, 80)  # percent, highest first: a budget reports the highest it has reached
PERIODS = (("day", "daily", 10), ("month", "monthly", 7))  # (report name, policy name, ts prefix length)


@dataclass(frozen=True)
class BudgetUse:
    """One budget (scope, key, period) in its current period (`label`: the UTC day or month)."""

    scope: str
    key: str
    period: str
    label: str
    used_micro: int
    limit_micro: int

    @property
    def ratio(self) -> float:
        return self.used_micro / self.limit_micro if self.limit_micro else float("inf")

    @property
    def percent_used(self) -> int:
        """Whole percent used, rounded down (exact integer arithmetic)."""
        return self.used_micro * 100 // self.limit_micro if self.limit_micro else 100

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "key": self.key, "period": self.period, "label": self.label,
                "used_usd": format_usd(from_micro(self.used_micro)),
                "limit_usd": format_usd(from_micro(self.limit_micro)), "percent_used": self.percent_used}


class SpendFollower:
    """Reservations (and halts) from the approval log and the transaction log, read incrementally."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.log = open_approval_log(settings)
        self.tail = self.log.new_tail()
        self.events = payment_event_follower(settings)
        self.state = SpendState()
        self.halts = HaltBook()
        # Warm start (§5): the first read goes on from the meta agent's spend checkpoint (read only).
        self.start_report: dict[str, Any] | None = None
        self._checkpoint_tried = False

    def refresh(self) -> SpendState:
        """Apply what was appended to either file since the last call; returns the state."""
        with self.log.viewed() as view:
            if view is None:
                self.tail = self.log.new_tail()
                self._start_over()
                return self.state
            else:
                view.follow(self.tail, self._apply, on_reset=self._start_over, warm_start=self._warm_start)
        result, reset = self.events.read_new()
        self.state.follow_events(result.records, reset=reset)
        return self.state

    def _warm_start(self, view: LogView, _head: Any = None) -> bool:
        if self._checkpoint_tried or self.settings.uses_postgres:
            return False
        self._checkpoint_tried = True
        now = self.clock()
        # Budgets are asked about the current day and month only: any horizon up to this month will do.
        snapshot, reason = load_spend_checkpoint(self.settings, view, now, format_utc(now)[:7], None)
        if snapshot is None:
            self.start_report = {"scan": "full", "rescan_reason": reason, "from_line": 0}
            return False
        self.tail.reset_to(view.identity)
        self.tail.offset, self.tail.lines = snapshot.tail_offset, snapshot.tail_lines
        self.tail.last_hash, self.tail.broken = snapshot.last_hash, snapshot.broken
        self.state, self.halts = snapshot.state, snapshot.halts
        self.events.resume_at(snapshot.positions["transactions"])
        self.start_report = {"scan": "incremental", "rescan_reason": None, "from_line": snapshot.tail_lines}
        return True

    def _start_over(self) -> None:
        events = self.state.events_applied()
        self.state = SpendState()
        for intent_id, status, payment_id in events:
            self.state.apply_event(intent_id, status, payment_id)
        self.halts = HaltBook()

    def _apply(self, record: dict[str, Any], offset: int, length: int) -> None:
        if record.get("kind") in ("halt", "resume"):
            self.halts.apply(record)
        elif record.get("kind") is None:
            self.state.apply_decision(record, offset, length)

    def usage(self, policy: Policy) -> list[BudgetUse]:
        """Every budget with a limit and some reservation in the current UTC day or month."""
        return budget_usage(self.refresh(), policy, self.clock())


def budget_usage(state: SpendState, policy: Policy, now: datetime) -> list[BudgetUse]:
    """Every budget with a limit that holds a reservation in the current UTC day or month."""
    today = format_utc(now)
    current = {10: today[:10], 7: today[:7]}
    used: list[BudgetUse] = []
    for (scope, key, label), micro in sorted(state.spent.items()):
        for period, policy_period, width in PERIODS:
            if len(label) != width or label != current[width] or micro <= 0:
                continue
            limit = policy.limit_micro(scope, key, policy_period)  # type: ignore[arg-type]
            if limit is not None:
                used.append(BudgetUse(scope, key, period, label, micro, limit))
    return used


def budget_threshold_findings(usage: list[BudgetUse]) -> list[dict[str, Any]]:
    """`budget_threshold` findings (§5): each budget at 80 % or 100 % of its limit, the highest reached."""
    findings = []
    for use in usage:
        reached = next((t for t in THRESHOLDS if use.used_micro * 100 >= use.limit_micro * t), None)
        if reached is not None:
            findings.append({"kind": "budget_threshold", "scope": use.scope, "key": use.key,
                             "period": use.period, "period_start": use.label,
                             "used_usd": format_usd(from_micro(use.used_micro)),
                             "limit_usd": format_usd(from_micro(use.limit_micro)), "percent": reached})
    return findings


def threshold_alert_key(finding: dict[str, Any]) -> str:
    """One alert per threshold per period: the key names the budget, its period and the threshold."""
    return (f"budget-{finding['scope']}-{finding['key']}-{finding['period']}-{finding['period_start']}"
            f"-{finding['percent']}")
