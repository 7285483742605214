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

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from genesis_payments.core.money import MICRO_PER_USD, to_micro
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now
from genesis_payments.exporter.control_gauges import CONTROL_METRIC_NAMES, ControlGauges
from genesis_payments.exporter.payment_tally import PaymentTally, prepare_events
from genesis_payments.ledgers import event_columns
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_store
from genesis_payments.ledgers.event_columns import epoch_us
from genesis_payments.ledgers.sources import event_log_tail

log = logging.getLogger(__name__)

BalanceSource = Callable[[], Mapping[str, Decimal]]
SOURCES = ("transactions", "wallets")
READER = "exporter"  # its checkpoint: data/a2a-x402/state/checkpoints/exporter.arrow
# The tally is checkpointed once a scrape has read this many lines since the last checkpoint, so a
# restart reads at most about this many lines before its first complete scrape.
CHECKPOINT_EVERY_LINES = 100_000

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
    *CONTROL_METRIC_NAMES,
)


def default_balance_source(settings: Settings) -> BalanceSource:
    """USDC `balanceOf` over JSON-RPC in both modes (fake mode: the local chain, §11)."""

    def balances() -> Mapping[str, Decimal]:
        # Imported on first use: web3 and the chain are only needed once a scrape asks for balances.
        from genesis_payments.payments.balances import wallet_balances

        return wallet_balances(settings)

    return balances


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic collector off while a read adds to the tally. A first read of a million
    events makes hundreds of thousands of objects, none in a reference cycle, and each collection
    their allocations set off walks every object of the process again: about a tenth of the
    first read's CPU. Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
        full: bool = False,
    ) -> None:
        """`full`: read the whole log on the first scrape even when a usable checkpoint exists."""
        self.settings = settings
        self.balance_source = balance_source or default_balance_source(settings)
        self.clock = clock
        self._tail = event_log_tail(settings)  # transactions.jsonl, or PostgreSQL's payment_events
        self._tally = PaymentTally(settings.stale_after_seconds)
        self._malformed = 0
        self._read_errors = dict.fromkeys(SOURCES, 0)
        # Scrapes can arrive concurrently (the HTTP server is threaded); the tail and tally are not.
        self._lock = threading.Lock()
        self._controls = ControlGauges(settings, clock)  # budgets and halts (§6), read from the approval log
        # Warm start (§5): the first scrape goes on from the checkpoint when it still describes the file.
        self.checkpoint_every = CHECKPOINT_EVERY_LINES
        self.start_report: dict[str, object] | None = (
            {"scan": "full", "rescan_reason": "a full read was asked for", "from_line": 0} if full else None)
        self._checkpoint_tried = full
        self._unsaved_lines = 0
        # The checkpoint is written after the scrape that made it due, in a thread of its own (it
        # waits for the lock), so that scrape is not slowed by writing the whole tally.
        self.checkpoint_in_background = True
        self._saver: threading.Thread | None = None

    def prepare(self) -> None:
        """Load the readers now (the exporter's start-up), not in the first scrape."""
        read = event_columns.warm_up()
        PaymentTally(self.settings.stale_after_seconds).add(read.tables[0])

    def describe(self) -> Iterator[Metric]:
        """The families without reading anything, so registering does not scan the ledger."""
        return iter([*self._families(None, {}, {}, 0.0, read=False), *self._controls.describe()])

    def collect(self) -> Iterator[Metric]:
        """Read what is new and yield every family; never raises for a failing source. Rendered by
        prometheus-client's own exposition (`generate_latest` on the registry holding this)."""
        started = time.perf_counter()
        with self._lock:
            up = {"transactions": self._refresh_transactions()}
            balances = self._read_balances()
            up["wallets"] = balances is not None
            stale = self._tally.stale_by_agent(epoch_us(self.clock()))
            families = self._families(balances, stale, up, started)
            due = self._unsaved_lines >= self.checkpoint_every
        if due:
            if self.checkpoint_in_background:
                self._saver = threading.Thread(target=self._save_if_due, name="exporter-checkpoint", daemon=True)
                self._saver.start()
            else:
                self._save_if_due()
        return iter([*families, *self._controls.families()])

    def wait_for_checkpoint(self) -> None:
        """Until a checkpoint being written in the background is written (tests, a clean stop)."""
        if self._saver is not None:
            self._saver.join()

    def _save_if_due(self) -> None:
        with self._lock:
            if self._unsaved_lines >= self.checkpoint_every:
                self._save_checkpoint()

    def _refresh_transactions(self) -> bool:
        try:
            if not self._checkpoint_tried:
                self._checkpoint_tried = True
                self._warm_start()
            if self._tail.check():
                self._start_over()
            with _cyclic_gc_paused():
                self._read_new_blocks()
            return True
        except Exception as exc:  # a scrape must answer whatever the file does
            self._read_errors["transactions"] += 1
            log.error("reading %s failed: %s", self.settings.transactions_path, redact(str(exc)))
            return False

    def _read_new_blocks(self) -> None:
        for block in self._tail.new_blocks(prepare=prepare_events):
            try:
                for prepared in block.tables:
                    self._tally.add_prepared(prepared)
            except Exception:
                # Part of the block may be counted already: never count it twice, read it all again.
                self._tail.restart()
                self._start_over()
                raise
            self._malformed += len(block.bad_lines)
            self._unsaved_lines += block.lines
            for bad in block.bad_lines[:5]:
                log.warning("skipped %s line %d: %s", bad.file, bad.line, bad.reason)

    def _start_over(self) -> None:
        self._tally = PaymentTally(self.settings.stale_after_seconds)
        self._malformed = 0

    def _warm_start(self) -> None:
        checkpoint, reason = checkpoint_store(self.settings).load(READER)
        if checkpoint is not None:
            position = checkpoint.positions["transactions"]
            reason = self._tail.changed_since(position)
            if reason is None:
                try:
                    tally = PaymentTally.from_checkpoint(checkpoint.table, checkpoint.extra)
                except (KeyError, TypeError, ValueError, IndexError) as exc:
                    reason = f"checkpoint {READER} does not hold a tally ({type(exc).__name__})"
                else:
                    tally.stale_after_us = self.settings.stale_after_seconds * 1_000_000
                    self._tally, self._malformed = tally, checkpoint.extra["malformed"]
                    self._tail.resume_at(position)
                    self.start_report = {"scan": "incremental", "rescan_reason": None, "from_line": position.lines}
                    return
        self.start_report = {"scan": "full", "rescan_reason": reason and f"{reason}: rescanned", "from_line": 0}
        if reason is not None:
            log.warning("exporter tally rebuilt from all payment events: %s", reason)

    def save_checkpoint(self) -> None:
        """Write the tally's checkpoint now (the exporter also does so every `checkpoint_every` lines)."""
        with self._lock:
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        # Under `_lock`, right after a read: the tally is exactly that of the file up to the tail's offset.
        # Two exporters on one root: each checkpoint is true of the prefix it names; the later rename wins.
        table, extra = self._tally.to_checkpoint()
        checkpoint_store(self.settings).save(
            READER, Checkpoint(table, {"transactions": self._tail.mark()}, {**extra, "malformed": self._malformed}))
        self._unsaved_lines = 0

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
        started: float,
        read: bool = True,
    ) -> list[Metric]:
        tally = self._tally
        wallets = balances or {}
        # prometheus-client adds `_total` to a counter family's samples: the names are given without it.
        payments = CounterMetricFamily("payments", "Payment events by the event's status.",
                                       labels=("agent", "vendor", "chain", "status"))
        spend = CounterMetricFamily("payment_spend_usd", "Captured USDC by agent and vendor.",
                                    labels=("agent", "vendor"))
        balance = GaugeMetricFamily("payment_wallet_balance", "Wallet balance in USDC.", labels=("agent",))
        streak = GaugeMetricFamily("payment_vendor_failure_streak",
                                   "Consecutive failed payments at the end of the vendor's history, in time order.",
                                   labels=("vendor",))
        stale_gauge = GaugeMetricFamily("payment_stale_authorizations",
                                        "Payments authorized or settlement_pending for longer than the stale "
                                        "threshold (expired included).", labels=("agent",))
        malformed = CounterMetricFamily("genesis_exporter_malformed_lines",
                                        "Lines of transactions.jsonl skipped as malformed (since the last rescan).")
        events = CounterMetricFamily("genesis_exporter_events", "Valid payment events read from the log.")
        last_event = GaugeMetricFamily("genesis_exporter_last_event_timestamp_seconds",
                                       "Timestamp of the newest payment event.")
        read_errors = CounterMetricFamily("genesis_exporter_read_errors", "Failed reads of a source, by source.",
                                          labels=("source",))
        source_up = GaugeMetricFamily("genesis_exporter_source_up", "1 when the source was read in this scrape.",
                                      labels=("source",))
        duration = GaugeMetricFamily("genesis_exporter_collect_duration_seconds",
                                     "Time this scrape took to read the sources and compute the figures.")
        for agent, micro in wallets.items():
            balance.add_metric([agent], usd_sample(micro))
        for agent in sorted(set(stale) | set(wallets)):
            stale_gauge.add_metric([agent], stale.get(agent, 0))
        if read:
            for labels, count in tally.counts.items():
                payments.add_metric(list(labels), count)
            for labels, micro in tally.spend_micro.items():
                spend.add_metric(list(labels), usd_sample(micro))
            for vendor, run in tally.failure_streaks().items():
                streak.add_metric([vendor], run)
            malformed.add_metric([], self._malformed)
            events.add_metric([], tally.events)
            if tally.last_event_us is not None:
                last_event.add_metric([], tally.last_event_us / 1_000_000)
            for source in SOURCES:
                read_errors.add_metric([source], self._read_errors[source])
                source_up.add_metric([source], 1 if up[source] else 0)
            # Measured last, so it covers reading and computing everything above.
            duration.add_metric([], time.perf_counter() - started)
        return [payments, spend, balance, streak, stale_gauge, malformed, events, last_event, read_errors,
                source_up, duration]
