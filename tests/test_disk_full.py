"""A full disk (a real 64 KiB tmpfs) or a failing fsync never leaves a partial line: the append is
refused whole, the error names the file and what to do, and once space is freed the ledgers and the
approval log's hash chain are intact with every acknowledged record in them."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.core.errors import LedgerError
from genesis_payments.core.files import write_json_atomic
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.audit import verify_chain
from genesis_payments.ledgers.jsonl import JsonlAppender, read_jsonl
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments.store import AuthorizationStore
from tests.support.approvals import FakeVendors, intent
from tests.support.damage import fill_up, free_space, small_tmpfs
from tests.support.ledgers import at, entry, event

BUDGETS_OFF = {s: {"default": {"daily": None, "monthly": None}} for s in ("agent", "vendor", "business")}


P1, P2 = "pay_" + "1" * 32, "pay_" + "2" * 32  # the store's payment id form

@pytest.fixture
def full_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """GENESIS_ROOT on a 64 KiB tmpfs; the test fills it when it is ready."""
    with small_tmpfs(tmp_path / "small") as mount:
        monkeypatch.setenv("GENESIS_ROOT", str(mount))
        yield mount


def _append_until_refused(append, make, limit: int = 10_000) -> tuple[list, Exception]:
    """Call `append(make(n))` until it raises; returns what was acknowledged and the error."""
    acknowledged = []
    for n in range(limit):
        item = make(n)
        try:
            acknowledged.append(append(item) or item)
        except LedgerError as exc:
            return acknowledged, exc
    raise AssertionError("the file system never filled up")


def _assert_whole_lines(path: Path) -> None:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a failed append left a partial line"
    for line in data.splitlines():
        json.loads(line)  # every line is whole JSON


def test_a_refused_append_leaves_the_file_as_it_was_and_the_next_one_lands_after_space_is_freed(full_root):
    path = full_root / "ledger.jsonl"
    appender = JsonlAppender(path)
    appender.append({"n": "first"})
    filler = fill_up(full_root)
    acknowledged, error = _append_until_refused(appender.append, lambda n: {"n": str(n), "pad": "x" * 300})
    size = path.stat().st_size
    assert str(path) in str(error) and "No space left on device" in str(error)
    assert "Free disk space, then retry" in str(error) and "nothing was recorded" in str(error)
    _assert_whole_lines(path)

    with pytest.raises(LedgerError):  # still full: refused again, still nothing partial
        appender.append({"n": "again", "pad": "y" * 300})
    assert path.stat().st_size == size
    free_space(filler)
    appender.append({"n": "after"})
    lines = [json.loads(line)["n"] for line in path.read_bytes().splitlines()]
    assert lines == ["first", *[a["n"] for a in acknowledged], "after"]


def test_disk_full_during_approvals_keeps_the_hash_chain_intact(full_root):
    settings = Settings()
    policy = policy_from_mapping({"review_threshold_usd": None, "max_intent_usd": None, "budgets": BUDGETS_OFF})
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy)
    agent.approve_payment_intent(intent())
    filler = fill_up(full_root)
    acknowledged, error = _append_until_refused(
        agent.approve_payment_intent, lambda n: intent(reason="r" * 200)
    )
    assert str(settings.approval_log_path) in str(error)
    _assert_whole_lines(settings.approval_log_path)

    free_space(filler)
    last = agent.approve_payment_intent(intent())
    report = verify_chain(settings.approval_log_path)
    assert report.ok, report.reason
    on_disk = [json.loads(line)["decision_id"] for line in settings.approval_log_path.read_bytes().splitlines()]
    assert [d.decision_id for d in acknowledged] + [last.decision_id] == on_disk[1:]


def test_disk_full_during_payment_event_and_finance_appends_loses_nothing_acknowledged(full_root):
    settings = Settings()
    monitor, finance = BusinessMonitor(settings), FinanceLedger(settings)
    monitor.log_payment(event("p-0", "authorized", at(0)))
    finance.record(entry("p-0"))
    filler = fill_up(full_root)
    events, event_error = _append_until_refused(
        monitor.log_payment, lambda n: event(f"p-{n + 1}", "authorized", at(n), error="e" * 200)
    )
    entries, entry_error = _append_until_refused(finance.record, lambda n: entry(f"p-{n + 1}", n=n))
    assert str(settings.transactions_path) in str(event_error)
    assert str(settings.finance_ledger_path) in str(entry_error)

    free_space(filler)
    monitor.log_payment(event("p-last", "authorized", at(99)))
    finance.record(entry("p-last"))
    read_events, read_entries = monitor.read_events(), finance.read_entries()
    assert read_events.bad_lines == [] and read_entries.bad_lines == []
    assert [e.event_id for e in read_events.records] == (
        [event("p-0", "authorized", at(0))["event_id"], *[e.event_id for e in events],
         event("p-last", "authorized", at(99))["event_id"]]
    )
    assert [e.entry_id for e in read_entries.records] == ["p-0-debit-0", *[e.entry_id for e in entries],
                                                          "p-last-debit-0"]


def test_a_failing_fsync_cuts_the_line_back_off(tmp_path, monkeypatch):
    # EIO cannot be produced on demand by a real disk; the fsync is the one call replaced here.
    path = tmp_path / "root" / "ledger.jsonl"
    appender = JsonlAppender(path)
    appender.append({"n": "1"})

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fdatasync", broken_fsync)
    with pytest.raises(LedgerError, match=r"Input/output error.*nothing was recorded.*Check the disk"):
        appender.append({"n": "2"})
    monkeypatch.undo()
    assert path.read_bytes() == b'{"n":"1"}\n'


def test_a_torn_tail_is_reported_and_the_next_append_starts_a_fresh_line(tmp_path):
    path = tmp_path / "root" / "ledger.jsonl"
    path.write_bytes(b'{"n":"1"}\n{"n":"tor')  # what a SIGKILL mid-write leaves
    JsonlAppender(path).append({"n": "2"})
    result = read_jsonl(path, dict_model())
    assert [r.n for r in result.records] == ["1", "2"]
    assert [b.line for b in result.bad_lines] == [2]


def dict_model():
    from pydantic import BaseModel, ConfigDict

    class Line(BaseModel):
        model_config = ConfigDict(extra="allow")
        n: str

    return Line


def test_a_state_file_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(full_root):
    target = full_root / "state.json"
    write_json_atomic(target, {"version": 1})
    filler = fill_up(full_root)
    with pytest.raises(LedgerError, match=r"cannot write .*state\.json: No space left on device.*unchanged"):
        write_json_atomic(target, {"version": 2, "pad": "x" * 20_000})
    assert json.loads(target.read_text()) == {"version": 1}
    assert sorted(p.name for p in full_root.iterdir()) == ["filler.bin", "state.json"]
    free_space(filler)


def test_saving_a_staged_payment_on_a_full_disk_is_a_clear_error(full_root):
    store = AuthorizationStore(Settings())
    store.save({"payment_id": P1, "status": "authorized"})
    filler = fill_up(full_root)
    with pytest.raises(LedgerError, match=r"pay_2+\.json: No space left on device"):
        store.save({"payment_id": P2, "status": "authorized", "pad": "x" * 20_000})
    assert store.load(P1) == {"payment_id": P1, "status": "authorized"}
    assert store.load(P2) is None
    free_space(filler)
