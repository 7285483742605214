"""The exporter's Prometheus collector (§6): figures read from the ledger on every scrape.

Nothing is kept in `Counter`/`Gauge` objects set by other processes (the earlier implementation's
mistake: metrics nothing ever set). Each scrape reads the lines appended to `transactions.jsonl`
since the previous scrape, adds them to exact running totals (`PaymentTally`), asks the balance
source for wallet balances, and yields metric families.

Money stays int micro-USDC (or Decimal) all the way; the only float is the sample value handed to
the exposition format, which has no other number type: `micro / 1_000_000` is one correctly rounded
division per sample, never accumulated. Values up to 2**53 micro-USDC (about 9 billion USDC) are
exact in it to the micro-USDC.

A failing source never kills the exporter or empties the page: that scrape reports
`genesis_exporter_source_up{source} 0` and counts `genesis_exporter_read_errors_total{source}`; the
ledger figures stay those of the last good read, and wallet balances are left out until the
source answers again (an old balance would look current).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from genesis_payments.event_columns import epoch_us
from genesis_payments.event_tail import EventLogTail
from genesis_payments.money import MICRO_PER_USD, to_micro
from genesis_payments.payment_tally import PaymentTally
from genesis_payments.redaction import redact
from genesis_payments.settings import Settings
from genesis_payments.timestamps import utc_now

log = logging.getLogger(__name__)

BalanceSource = Callable[[], Mapping[str, Decimal]]
SOURCES = ("transactions", "wallets")

# Exposed names (§6). prometheus-client adds `_total` to a counter family's sample, so the family
# names below are given without it and come out exactly as the contract spells them.
METRIC_NAMES = (
    "payments_total",
    "payment_spend_usd_total",
    "payment_wallet_balance",
    "payment_vendor_failure_streak",
    "payment_stale_authorizations",
    "genesis_exporter_malformed_lines_total",
    "genesis_exporter_last_event_timestamp_seconds",
    "genesis_exporter_collect_duration_seconds",
    "genesis_exporter_read_errors_total",
    "genesis_exporter_source_up",
    "genesis_exporter_events_total",
)


def default_balance_source(settings: Settings) -> BalanceSource:
    """Fake mode: the fake wallets file. Live mode: the on-chain balance reader of `balances`."""
    if settings.use_fake:
        from genesis_payments.wallets import FakeWallets

        wallets = FakeWallets(settings.fake_wallets_path)
        return wallets.balances

    def live_balances() -> Mapping[str, Decimal]:
        # Imported on first use: the live reader (RPC) belongs to the ops-jobs work and is only
        # needed in live mode.
        from genesis_payments.balances import wallet_balances

        return wallet_balances(settings)

    return live_balances


def usd_sample(micro: int) -> float:
    """The single, unavoidable conversion to the exposition format's float (see module docstring)."""
    return micro / MICRO_PER_USD


class PaymentsCollector(Collector):
    """A custom collector; register it on a `CollectorRegistry` (tests use their own)."""

    def __init__(
        self,
        settings: Settings,
        balance_source: BalanceSource | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.balance_source = balance_source or default_balance_source(settings)
        self.clock = clock
        self._tail = EventLogTail(settings.transactions_path)
        self._tally = PaymentTally(settings.stale_after_seconds)
        self._malformed = 0
        self._read_errors = dict.fromkeys(SOURCES, 0)
        # Scrapes can arrive concurrently (the HTTP server is threaded); the tail and tally are not.
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Metric]:
        """The families without reading anything, so registering does not scan the ledger."""
        return iter(self._families(None, {}, {}, {}))

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        with self._lock:
            up = {"transactions": self._refresh_transactions()}
            balances = self._read_balances()
            up["wallets"] = balances is not None
            stale = self._tally.stale_by_agent(epoch_us(self.clock()))
            families = self._families(balances, stale, up, self._read_errors)
        duration = time.perf_counter() - started
        families[-1].add_metric([], duration)  # collect duration, measured up to the yield
        return iter(families)

    def _refresh_transactions(self) -> bool:
        try:
            if self._tail.check():
                self._tally = PaymentTally(self.settings.stale_after_seconds)
                self._malformed = 0
            for block in self._tail.new_blocks():
                for columns in block.columns:
                    self._tally.add(columns)
                self._malformed += len(block.bad_lines)
                for bad in block.bad_lines[:5]:
                    log.warning("skipped %s line %d: %s", bad.file, bad.line, bad.reason)
            return True
        except Exception as exc:  # a scrape must answer whatever the file does
            self._read_errors["transactions"] += 1
            log.error("reading %s failed: %s", self.settings.transactions_path, redact(str(exc)))
            return False

    def _read_balances(self) -> dict[str, int] | None:
        try:
            return {agent: to_micro(Decimal(amount)) for agent, amount in self.balance_source().items()}
        except Exception as exc:
            self._read_errors["wallets"] += 1
            log.error("reading wallet balances failed: %s", redact(str(exc)))
            return None

    def _families(
        self,
        balances: Mapping[str, int] | None,
        stale: Mapping[str, int],
        up: Mapping[str, bool],
        read_errors: Mapping[str, int],
    ) -> list[Metric]:
        tally = self._tally
        payments = CounterMetricFamily(
            "payments", "Payment events by the event's status.", labels=["agent", "vendor", "chain", "status"]
        )
        for labels, count in sorted(tally.counts.items()):
            payments.add_metric(list(labels), count)
        spend = CounterMetricFamily(
            "payment_spend_usd", "Captured USDC by agent and vendor.", labels=["agent", "vendor"]
        )
        for (agent, vendor), micro in sorted(tally.spend_micro.items()):
            spend.add_metric([agent, vendor], usd_sample(micro))
        wallet = GaugeMetricFamily("payment_wallet_balance", "Wallet balance in USDC.", labels=["agent"])
        for agent, micro in sorted((balances or {}).items()):
            wallet.add_metric([agent], usd_sample(micro))
        streaks = GaugeMetricFamily(
            "payment_vendor_failure_streak",
            "Consecutive failed payments at the end of the vendor's history, in time order.",
            labels=["vendor"],
        )
        for vendor, streak in sorted(tally.failure_streaks().items()):
            streaks.add_metric([vendor], streak)
        stale_family = GaugeMetricFamily(
            "payment_stale_authorizations",
            "Payments authorized or settlement_pending for longer than the stale threshold (expired included).",
            labels=["agent"],
        )
        for agent in sorted(set(stale) | set(balances or {})):
            stale_family.add_metric([agent], stale.get(agent, 0))

        malformed = CounterMetricFamily(
            "genesis_exporter_malformed_lines", "Lines of transactions.jsonl skipped as malformed."
        )
        if up:
            malformed.add_metric([], self._malformed)
        events = CounterMetricFamily("genesis_exporter_events", "Valid payment events read from the log.")
        if up:
            events.add_metric([], tally.events)
        last_event = GaugeMetricFamily(
            "genesis_exporter_last_event_timestamp_seconds", "Timestamp of the newest payment event."
        )
        if up and tally.last_event_us is not None:
            last_event.add_metric([], tally.last_event_us / 1_000_000)
        errors = CounterMetricFamily(
            "genesis_exporter_read_errors", "Failed reads of a source, by source.", labels=["source"]
        )
        source_up = GaugeMetricFamily(
            "genesis_exporter_source_up", "1 when the source was read in this scrape.", labels=["source"]
        )
        if up:
            for source in SOURCES:
                errors.add_metric([source], read_errors[source])
                source_up.add_metric([source], 1 if up[source] else 0)
        duration = GaugeMetricFamily(
            "genesis_exporter_collect_duration_seconds", "Time this scrape took to read and compute."
        )
        return [payments, spend, wallet, streaks, stale_family, malformed, events, last_event, errors, source_up,
                duration]

