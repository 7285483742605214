"""The payments collector scraped over real HTTP on a loopback port (§6), each test with its own registry."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from genesis_payments.core.settings import Settings
from genesis_payments.exporter.metrics import METRIC_NAMES, PaymentsCollector, default_balance_source
from genesis_payments.exporter.server import ExporterServer
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.payments.fakes.fake_keys import fund_fake_wallets
from genesis_payments.payments.fakes.local_chain import LocalChain
from tests.support.exporter import (
    append_lines,
    fetch,
    one_shot,
    parse_samples,
    payment_event,
    sample,
    samples_named,
)

NOW = datetime(2026, 11, 26, 4, 0, 0, tzinfo=UTC)
BASE = "eip155:8453"
SEPOLIA = "eip155:84532"


def ts(hhmmss: str) -> str:
    return f"2026-11-26T{hhmmss}.000000+00:00"


def crafted_log() -> list[dict]:
    e = payment_event
    return [
        # agent-a pays vendor-x three times: 10.5 + 0.1 + 0.2 captured (a float sum would be 10.799999…).
        e("e1", "p1", "authorized", ts("03:00:00"), amount_usd="10.5"),
        e("e2", "p1", "captured", ts("03:00:05"), amount_usd="10.5"),
        e("e3", "p2", "authorized", ts("03:01:00"), amount_usd="0.1"),
        e("e4", "p2", "captured", ts("03:01:05"), amount_usd="0.1"),
        e("e5", "p3", "authorized", ts("03:02:00"), amount_usd="0.2"),
        e("e6", "p3", "captured", ts("03:02:05"), amount_usd="0.2"),
        # agent-b / vendor-y on another chain: two failures, then a success logged late but earlier in
        # time, which must not reset the streak (time order, not file order).
        e("e7", "p4", "authorized", ts("03:10:00"), agent="agent-b", vendor="vendor-y", chain=SEPOLIA),
        e("e8", "p4", "failed", ts("03:10:05"), agent="agent-b", vendor="vendor-y", chain=SEPOLIA, error="timeout"),
        e("e9", "p5", "authorized", ts("03:11:00"), agent="agent-b", vendor="vendor-y", chain=SEPOLIA),
        e("e10", "p5", "failed", ts("03:11:05"), agent="agent-b", vendor="vendor-y", chain=SEPOLIA),
        e("e11", "p6", "authorized", ts("03:04:00"), agent="agent-b", vendor="vendor-y", chain=SEPOLIA,
          amount_usd="0.000001"),
        e("e12", "p6", "captured", ts("03:05:00"), agent="agent-b", vendor="vendor-y", chain=SEPOLIA,
          amount_usd="0.000001"),
        # vendor-z: a failure, then a success later in time: streak 0.
        e("e13", "p7", "failed", ts("03:20:00"), vendor="vendor-z"),
        e("e14a", "p8", "authorized", ts("03:30:00"), vendor="vendor-z", amount_usd="2"),
        e("e14", "p8", "captured", ts("03:30:00"), vendor="vendor-z", amount_usd="2"),
        # vendor-w: success at 03:00, then three failures written out of order: streak 3.
        e("e15", "p12", "failed", ts("03:42:00"), vendor="vendor-w"),
        e("e16a", "p9", "authorized", ts("03:00:00"), vendor="vendor-w", amount_usd="3"),
        e("e16", "p9", "captured", ts("03:00:00"), vendor="vendor-w", amount_usd="3"),
        e("e17", "p10", "failed", ts("03:40:00"), vendor="vendor-w"),
        e("e18", "p11", "failed", ts("03:41:00"), vendor="vendor-w"),
        # agent-c's open payments at 04:00 with a 15-minute threshold.
        e("e20", "p20", "authorized", ts("03:30:00"), agent="agent-c"),  # 30 min old: stale
        e("e21", "p21", "authorized", ts("03:50:00"), agent="agent-c"),  # 10 min old: not stale
        e("e22", "p22", "authorized", ts("03:55:00"), agent="agent-c",
          valid_before=ts("03:58:00")),  # young but expired: stale
        e("e23", "p23", "authorized", ts("03:39:00"), agent="agent-c"),
        e("e24", "p23", "settlement_pending", ts("03:40:00"), agent="agent-c"),  # pending 20 min: stale
        e("e25", "p24", "authorized", ts("03:00:00"), agent="agent-c"),
        e("e26", "p24", "cancelled", ts("03:05:00"), agent="agent-c"),  # closed: not stale
    ]


@pytest.fixture
def wallets(settings: Settings, local_chain: LocalChain) -> dict[str, Decimal]:
    """Play-money wallets minted on the local chain (the balances the exporter reads by balanceOf)."""
    return fund_fake_wallets(settings, {"agent-a": Decimal("120.5"), "agent-b": Decimal("49.999999"),
                                        "agent-c": Decimal("0")})


@pytest.fixture
def exporter(settings: Settings, wallets: dict[str, Decimal]) -> Iterator[ExporterServer]:
    server = ExporterServer(PaymentsCollector(settings, clock=lambda: NOW), "127.0.0.1", 0).start()
    yield server
    server.stop()


def scrape(server: ExporterServer) -> dict:
    status, body = fetch(f"http://127.0.0.1:{server.port}/metrics")
    assert status == 200
    return parse_samples(body)


def log_events(settings: Settings, records: list[dict]) -> None:
    """Through `BusinessMonitor`: the store in use (the files of §2, or PostgreSQL)."""
    monitor = BusinessMonitor(settings)
    for record in records:
        monitor.log_payment(record)


def test_every_sample_of_a_crafted_log(store: str, settings: Settings, exporter: ExporterServer) -> None:
    log_events(settings, crafted_log())
    samples = scrape(exporter)

    assert samples_named(samples, "payments_total") == {
        frozenset({("agent", a), ("vendor", v), ("chain", c), ("status", s)}): Decimal(n)
        for a, v, c, s, n in [
            ("agent-a", "vendor-x", BASE, "authorized", 3),
            ("agent-a", "vendor-x", BASE, "captured", 3),
            ("agent-b", "vendor-y", SEPOLIA, "authorized", 3),
            ("agent-b", "vendor-y", SEPOLIA, "failed", 2),
            ("agent-b", "vendor-y", SEPOLIA, "captured", 1),
            ("agent-a", "vendor-z", BASE, "failed", 1),
            ("agent-a", "vendor-z", BASE, "authorized", 1),
            ("agent-a", "vendor-z", BASE, "captured", 1),
            ("agent-a", "vendor-w", BASE, "failed", 3),
            ("agent-a", "vendor-w", BASE, "authorized", 1),
            ("agent-a", "vendor-w", BASE, "captured", 1),
            ("agent-c", "vendor-x", BASE, "authorized", 5),
            ("agent-c", "vendor-x", BASE, "settlement_pending", 1),
            ("agent-c", "vendor-x", BASE, "cancelled", 1),
        ]
    }
    assert samples_named(samples, "payment_spend_usd_total") == {
        frozenset({("agent", "agent-a"), ("vendor", "vendor-x")}): Decimal("10.8"),
        frozenset({("agent", "agent-b"), ("vendor", "vendor-y")}): Decimal("0.000001"),
        frozenset({("agent", "agent-a"), ("vendor", "vendor-z")}): Decimal("2"),
        frozenset({("agent", "agent-a"), ("vendor", "vendor-w")}): Decimal("3"),
    }
    assert samples_named(samples, "payment_vendor_failure_streak") == {
        frozenset({("vendor", "vendor-x")}): 0,
        frozenset({("vendor", "vendor-y")}): 2,
        frozenset({("vendor", "vendor-z")}): 0,
        frozenset({("vendor", "vendor-w")}): 3,
    }
    assert samples_named(samples, "payment_stale_authorizations") == {
        frozenset({("agent", "agent-a")}): 0,
        frozenset({("agent", "agent-b")}): 0,
        frozenset({("agent", "agent-c")}): 3,
    }
    assert samples_named(samples, "payment_wallet_balance") == {
        frozenset({("agent", "agent-a")}): Decimal("120.5"),
        frozenset({("agent", "agent-b")}): Decimal("49.999999"),
        frozenset({("agent", "agent-c")}): Decimal("0"),
    }
    assert sample(samples, "genesis_exporter_malformed_lines_total") == 0
    assert sample(samples, "genesis_exporter_events_total") == len(crafted_log())
    newest = datetime(2026, 11, 26, 3, 55, tzinfo=UTC).timestamp()
    assert sample(samples, "genesis_exporter_last_event_timestamp_seconds") == Decimal(repr(newest))
    assert sample(samples, "genesis_exporter_source_up", source="transactions") == 1
    assert sample(samples, "genesis_exporter_source_up", source="wallets") == 1
    assert sample(samples, "genesis_exporter_collect_duration_seconds") > 0
    assert {name for name, _ in samples} <= set(METRIC_NAMES)


def test_appended_events_are_counted_once(settings: Settings, exporter: ExporterServer) -> None:
    log = settings.transactions_path
    append_lines(log, crafted_log())
    scrape(exporter)
    append_lines(log, [
        payment_event("n1", "q1", "authorized", ts("03:59:00"), amount_usd="5"),
        payment_event("n2", "q1", "captured", ts("03:59:30"), amount_usd="5"),
    ])
    with open(log, "ab") as handle:  # a write in progress: no newline yet, so not read yet
        handle.write(b'{"event_id": "n3", "ts": "2026-11-26T03:59:40.000000+00:00"')

    for _ in range(2):  # scraping again must not count anything twice
        samples = scrape(exporter)
        key = dict(agent="agent-a", vendor="vendor-x", chain=BASE)
        assert sample(samples, "payments_total", status="captured", **key) == 4
        assert sample(samples, "payments_total", status="authorized", **key) == 4
        assert sample(samples, "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == Decimal("15.8")
        assert sample(samples, "genesis_exporter_events_total") == len(crafted_log()) + 2
        assert sample(samples, "genesis_exporter_malformed_lines_total") == 0

    with open(log, "ab") as handle:  # the writer finishes its line
        handle.write(b', "payment_id": "q2", "status": "failed", "agent": "agent-a", "vendor": "vendor-x", '
                     b'"chain": "eip155:8453", "token": "USDC", "amount_usd": "1"}\n')
    samples = scrape(exporter)
    assert sample(samples, "payments_total", status="failed", agent="agent-a", vendor="vendor-x", chain=BASE) == 1
    assert sample(samples, "payment_vendor_failure_streak", vendor="vendor-x") == 1
    assert sample(samples, "genesis_exporter_malformed_lines_total") == 0


def test_events_appended_on_postgres_are_counted_once_and_a_rewritten_table_is_rescanned(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, local_chain: LocalChain) -> None:
    import psycopg

    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    settings = Settings()
    collector = PaymentsCollector(settings, clock=lambda: NOW)
    registry = CollectorRegistry()
    registry.register(collector)
    log_events(settings, crafted_log())
    registry.get_sample_value("genesis_exporter_events_total")
    log_events(settings, [payment_event("n1", "q1", "authorized", ts("03:59:00"), amount_usd="5")])
    for _ in range(2):
        assert registry.get_sample_value("genesis_exporter_events_total") == len(crafted_log()) + 1
    with psycopg.connect(pg_url, autocommit=True) as conn:  # history rewritten by hand, around the triggers
        conn.execute("ALTER TABLE payment_events DISABLE TRIGGER USER")
        conn.execute("DELETE FROM payment_events WHERE event_id = 'n1'")
    assert registry.get_sample_value("genesis_exporter_events_total") == len(crafted_log())


def test_many_micro_payments_sum_exactly(settings: Settings, exporter: ExporterServer) -> None:
    append_lines(settings.transactions_path, [
        line for i in range(1000) for line in one_shot(f"e{i}", f"p{i}", ts("03:00:00"), amount_usd="0.000001")
    ] + one_shot("big", "pb", ts("03:00:00"), amount_usd="999999999.999999", vendor="v2"))
    samples = scrape(exporter)
    assert sample(samples, "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == Decimal("0.001")
    assert sample(samples, "payment_spend_usd_total", agent="agent-a", vendor="v2") == Decimal("999999999.999999")


def test_bad_lines_count_in_health_never_in_spend(settings: Settings, exporter: ExporterServer) -> None:
    good = one_shot("g1", "p1", ts("03:00:00"), amount_usd="1")
    append_lines(settings.transactions_path, [
        *good,
        "not json at all",
        "",
        b"\xff\xfe binary",
        payment_event("b1", "p2", "captured", ts("03:00:00"), amount_usd="-5"),
        payment_event("b2", "p3", "captured", ts("03:00:00"), amount_usd="1.0000001"),
        payment_event("b3", "p4", "captured", "2026-11-26T03:00:00", amount_usd="7"),  # naive timestamp
        payment_event("b4", "p5", "paid", ts("03:00:00"), amount_usd="7"),
        payment_event("b5", "p6", "captured", ts("03:00:00"), amount_usd="NaN"),
        '{"event_id": "b6", "event_id": "dup"}',
        # JSON numbers for money are older files' form and are accepted by their text (§3).
        payment_event("n1-auth", "p7", "authorized", "2026-11-26T03:00:00+00:00", amount_usd="0.5"),
        '{"event_id": "n1", "ts": "2026-11-26T03:00:00+00:00", "payment_id": "p7", "status": "captured", '
        '"agent": "agent-a", "vendor": "vendor-x", "chain": "eip155:8453", "token": "USDC", "amount_usd": 0.5}',
    ])
    samples = scrape(exporter)
    assert sample(samples, "genesis_exporter_malformed_lines_total") == 9
    assert sample(samples, "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == Decimal("1.5")
    assert samples_named(samples, "payment_spend_usd_total") == {
        frozenset({("agent", "agent-a"), ("vendor", "vendor-x")}): Decimal("1.5")
    }
    assert sample(samples, "payments_total", agent="agent-a", vendor="vendor-x", chain=BASE, status="captured") == 2


def test_missing_file_gives_zeros_not_an_error(settings: Settings, exporter: ExporterServer) -> None:
    assert not settings.transactions_path.exists()
    samples = scrape(exporter)
    assert samples_named(samples, "payments_total") == {}
    assert samples_named(samples, "payment_spend_usd_total") == {}
    assert sample(samples, "genesis_exporter_malformed_lines_total") == 0
    assert sample(samples, "genesis_exporter_events_total") == 0
    assert sample(samples, "genesis_exporter_source_up", source="transactions") == 1
    assert sample(samples, "payment_stale_authorizations", agent="agent-c") == 0
    assert sample(samples, "payment_wallet_balance", agent="agent-b") == Decimal("49.999999")


def test_truncated_file_is_rescanned(settings: Settings, exporter: ExporterServer) -> None:
    log = settings.transactions_path
    append_lines(log, [*crafted_log(), "garbage"])
    assert sample(scrape(exporter), "genesis_exporter_malformed_lines_total") == 1
    log.write_bytes(b"")
    append_lines(log, one_shot("t1", "p1", ts("03:00:00"), amount_usd="4"))
    samples = scrape(exporter)
    assert samples_named(samples, "payment_spend_usd_total") == {
        frozenset({("agent", "agent-a"), ("vendor", "vendor-x")}): Decimal("4")
    }
    assert sample(samples, "genesis_exporter_events_total") == 2
    assert sample(samples, "genesis_exporter_malformed_lines_total") == 0
    assert sample(samples, "payment_stale_authorizations", agent="agent-c") == 0


def test_replaced_file_is_rescanned(settings: Settings, exporter: ExporterServer) -> None:
    log = settings.transactions_path
    append_lines(log, crafted_log())
    scrape(exporter)
    # A longer file put in place by rename: same path, new inode, old offset inside it.
    replacement = log.with_name("new.jsonl")
    append_lines(replacement, [
        payment_event(f"r{i}", f"p{i}", "failed", ts("03:00:00"), vendor="vendor-r") for i in range(40)
    ])
    os.replace(replacement, log)
    samples = scrape(exporter)
    assert samples_named(samples, "payments_total") == {
        frozenset({("agent", "agent-a"), ("vendor", "vendor-r"), ("chain", BASE), ("status", "failed")}): 40
    }
    assert samples_named(samples, "payment_vendor_failure_streak") == {frozenset({("vendor", "vendor-r")}): 40}


def test_a_failing_source_reports_the_error_and_keeps_serving(settings: Settings, wallets: dict[str, Decimal]) -> None:
    calls = {"n": 0}

    def flaky() -> dict[str, Decimal]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("rpc down")
        return {"agent-a": Decimal("60")}

    append_lines(settings.transactions_path, crafted_log())
    with ExporterServer(PaymentsCollector(settings, balance_source=flaky, clock=lambda: NOW), "127.0.0.1", 0) as srv:
        first = scrape(srv)
        second = scrape(srv)
        settings.transactions_path.unlink()
        settings.transactions_path.mkdir()  # reading a directory fails
        third = scrape(srv)
        settings.transactions_path.rmdir()
        append_lines(settings.transactions_path, crafted_log()[:2])
        fourth = scrape(srv)

    assert sample(first, "payment_wallet_balance", agent="agent-a") == 60
    assert sample(second, "genesis_exporter_source_up", source="wallets") == 0
    assert sample(second, "genesis_exporter_read_errors_total", source="wallets") == 1
    assert samples_named(second, "payment_wallet_balance") == {}
    assert sample(second, "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == Decimal("10.8")
    assert sample(third, "genesis_exporter_source_up", source="transactions") == 0
    assert sample(third, "genesis_exporter_read_errors_total", source="transactions") == 1
    assert sample(third, "payment_wallet_balance", agent="agent-a") == 60
    assert sample(fourth, "genesis_exporter_source_up", source="transactions") == 1
    assert sample(fourth, "genesis_exporter_events_total") == 2
    assert sample(fourth, "genesis_exporter_read_errors_total", source="transactions") == 1


def test_registering_reads_nothing(settings: Settings) -> None:
    calls = []
    append_lines(settings.transactions_path, crafted_log())
    collector = PaymentsCollector(settings, balance_source=lambda: calls.append(1) or {})
    CollectorRegistry().register(collector)
    assert calls == []
    assert collector._tail.offset == 0


def test_fake_mode_reads_balance_of_on_the_local_chain(settings: Settings, wallets: dict[str, Decimal]) -> None:
    registry = CollectorRegistry()
    registry.register(PaymentsCollector(settings))
    assert registry.get_sample_value("payment_wallet_balance", {"agent": "agent-b"}) == 49.999999


def test_live_mode_reads_balances_through_the_balances_module(
    genesis_root, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_USE_FAKE", "false")
    live = Settings()
    seen = []
    module = types.ModuleType("genesis_payments.payments.balances")

    def wallet_balances(settings: Settings) -> dict[str, Decimal]:
        seen.append(settings)
        return {"agent-live": Decimal("7.25")}

    module.wallet_balances = wallet_balances
    source = default_balance_source(live)  # built before the module exists: the import is lazy
    monkeypatch.setitem(sys.modules, "genesis_payments.payments.balances", module)
    registry = CollectorRegistry()
    registry.register(PaymentsCollector(live, balance_source=source))
    assert registry.get_sample_value("payment_wallet_balance", {"agent": "agent-live"}) == 7.25
    assert seen == [live]


def test_live_mode_takes_an_injected_balance_source(genesis_root, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_USE_FAKE", "false")
    registry = CollectorRegistry()
    registry.register(PaymentsCollector(Settings(), balance_source=lambda: {"agent-z": Decimal("0.000001")}))
    assert registry.get_sample_value("payment_wallet_balance", {"agent": "agent-z"}) == 0.000001
    assert registry.get_sample_value("genesis_exporter_source_up", {"source": "wallets"}) == 1


def test_served_text_has_the_same_samples_as_the_registry(settings: Settings, wallets: dict[str, Decimal]) -> None:
    """The served page always equals the registry's view (prometheus-client's own exposition)."""
    from prometheus_client import generate_latest

    odd = 'vendor "quoted" back/slash é'  # ids hold no newline or backslash (records.Id); quotes remain
    log = settings.transactions_path
    odd_event = payment_event("o1", "o1", "failed", ts("03:00:00"), vendor=odd, agent="agent-é")
    append_lines(log, [*crafted_log(), odd_event])
    duration = "genesis_exporter_collect_duration_seconds"

    def both(server: ExporterServer) -> tuple[str, str]:
        served = fetch(f"http://127.0.0.1:{server.port}/metrics")[1]
        from_registry = generate_latest(server.registry).decode()
        strip = lambda text: {k: v for k, v in parse_samples(text).items() if k[0] != duration}  # noqa: E731
        assert strip(served) == strip(from_registry)
        headers = [line for line in served.splitlines() if line.startswith("#")]
        assert headers == [line for line in from_registry.splitlines() if line.startswith("#")]
        return served, from_registry

    with ExporterServer(PaymentsCollector(settings, clock=lambda: NOW), "127.0.0.1", 0) as server:
        served, _ = both(server)
        escaped = odd.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        assert sample(parse_samples(served), "payment_vendor_failure_streak", vendor=escaped) == 1
        both(server)  # nothing new
        append_lines(log, [*one_shot("n1", "q1", ts("03:59:00"), amount_usd="0.5"),
                           *one_shot("n2", "q2", ts("03:59:00"), vendor="new-vendor")])
        served, _ = both(server)
        assert sample(parse_samples(served), "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == \
            Decimal("11.3")
        log.write_bytes(b"")  # truncated: everything is read again, series that vanished are gone
        append_lines(log, one_shot("t1", "t1", ts("03:00:00"), amount_usd="4"))
        served, _ = both(server)
        assert samples_named(parse_samples(served), "payments_total") == {
            frozenset({("agent", "agent-a"), ("vendor", "vendor-x"), ("chain", BASE), ("status", status)}): 1
            for status in ("authorized", "captured")}


def test_gzip_is_served_when_asked(settings: Settings, exporter: ExporterServer) -> None:
    import gzip
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{exporter.port}/metrics",
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(response.read()).decode()
    assert "payment_stale_authorizations" in body


def test_a_failure_while_counting_never_counts_a_block_twice(
    settings: Settings, wallets: dict[str, Decimal], monkeypatch: pytest.MonkeyPatch
) -> None:
    from genesis_payments.exporter.payment_tally import PaymentTally

    append_lines(settings.transactions_path, crafted_log())
    collector = PaymentsCollector(settings, clock=lambda: NOW)
    registry = CollectorRegistry()
    registry.register(collector)
    real_add = PaymentTally.add_prepared
    with monkeypatch.context() as patch:
        def add_then_fail(self: PaymentTally, prepared) -> None:
            real_add(self, prepared)
            raise RuntimeError("bug while counting")

        patch.setattr(PaymentTally, "add_prepared", add_then_fail)
        assert registry.get_sample_value("genesis_exporter_source_up", {"source": "transactions"}) == 0
    labels = {"agent": "agent-a", "vendor": "vendor-x", "chain": BASE, "status": "captured"}
    assert registry.get_sample_value("payments_total", labels) == 3
    assert registry.get_sample_value("genesis_exporter_events_total") == len(crafted_log())


def test_warm_up_reads_the_log_before_the_first_scrape(settings: Settings, exporter: ExporterServer) -> None:
    append_lines(settings.transactions_path, crafted_log())
    exporter.warm_up().join(timeout=30)
    assert exporter.collector._tail.offset == settings.transactions_path.stat().st_size
    samples = scrape(exporter)
    assert sample(samples, "genesis_exporter_events_total") == len(crafted_log())
