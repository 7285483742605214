"""Alert dedup: sent when new, when changed, and again only after the cooldown (time injected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from genesis_payments.jobs.alert_state import AlertState, fingerprint


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 3, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_same_finding_twice_is_one_alert_and_again_after_the_cooldown(tmp_path):
    clock = Clock()
    state = AlertState(tmp_path, cooldown_seconds=6 * 3600, clock=clock)
    print_ = fingerprint([{"kind": "low_balance", "agent": "a", "balance_usd": "10.000000"}])
    assert state.due("monitor-alerts", print_)
    state.mark_sent("monitor-alerts", print_)
    clock.now += timedelta(hours=1)
    assert not state.due("monitor-alerts", print_)
    clock.now += timedelta(hours=5)
    assert state.due("monitor-alerts", print_)


def test_a_changed_alert_is_sent_at_once_but_drifting_figures_are_not_a_change(tmp_path):
    state = AlertState(tmp_path, cooldown_seconds=3600, clock=Clock())
    first = fingerprint([{"kind": "low_balance", "agent": "a", "balance_usd": "10.000000"}])
    state.mark_sent("k", first)
    drifted = fingerprint([{"kind": "low_balance", "agent": "a", "balance_usd": "9.000000"}])
    assert drifted == first and not state.due("k", drifted)
    another = fingerprint([{"kind": "low_balance", "agent": "a"}, {"kind": "low_balance", "agent": "b"}])
    assert state.due("k", another)


def test_a_cleared_alert_is_news_when_it_returns(tmp_path):
    state = AlertState(tmp_path, cooldown_seconds=3600, clock=Clock())
    state.mark_sent("k", "f")
    state.clear("k")
    assert state.due("k", "f")


def test_state_survives_a_new_process_and_keys_are_safe_file_names(tmp_path):
    AlertState(tmp_path, 3600, clock=Clock()).mark_sent("ledger-sync/summary:2026", "f")
    assert not AlertState(tmp_path, 3600, clock=Clock()).due("ledger-sync/summary:2026", "f")
    assert [p.name for p in (tmp_path / "alerts").iterdir()] == ["ledger-sync_summary_2026.json"]
