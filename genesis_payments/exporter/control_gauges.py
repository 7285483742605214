"""The operator-control gauges of §6: how much of each budget is used, and which halts are in force.

`payment_budget_used_ratio{scope,key,period}` is reserved ÷ limit of each budget of §8 that holds a
reservation in the current UTC day or month (the meta agent's own `SpendState`, through
`SpendFollower`); `payment_halted{scope,key}` is 1 for each halt in force (`key` empty for a halt
of everything). The collector calls `ControlGauges.families()` on each scrape; only lines appended
since the previous scrape are read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily

from genesis_payments.approvals.budget_usage import SpendFollower
from genesis_payments.approvals.policy import load_policy
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now

log = logging.getLogger(__name__)

CONTROL_METRIC_NAMES = ("payment_budget_used_ratio", "payment_halted")


def _empty() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily("payment_budget_used_ratio", "Reserved USDC divided by the limit of each budget "
                          "(scope agent/vendor/business, period day/month), in the current period.",
                          labels=("scope", "key", "period")),
        GaugeMetricFamily("payment_halted", "1 while a halt (kill switch) is in force for the scope and key.",
                          labels=("scope", "key")),
    )


class ControlGauges:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self._follower = SpendFollower(settings, clock=clock)
        self._lock = threading.Lock()

    def describe(self) -> list[GaugeMetricFamily]:
        return list(_empty())

    def families(self) -> list[GaugeMetricFamily]:
        """Both families; a source that cannot be read leaves its family empty and is logged."""
        ratio, halted = _empty()
        with self._lock:
            try:
                self._follower.refresh()
            except Exception as exc:  # a scrape must answer whatever the logs do
                log.error("reading budgets and halts failed: %s", redact(str(exc)))
                return [ratio, halted]
            for held in self._follower.halts.active.values():
                halted.add_metric((held.scope, held.key or ""), 1)
            try:
                usage = self._follower.usage(load_policy(self.settings))
            except Exception as exc:
                log.error("reading the policy for the budget gauges failed: %s", redact(str(exc)))
                usage = []
            for use in usage:
                ratio.add_metric((use.scope, use.key, use.period), use.used_micro / use.limit_micro)
        return [ratio, halted]
