"""The crash-point matrix (§9): SIGKILL at every step of authorize, capture and cancel.

After each kill and at most one retry: money moved ⇔ one `captured` event ⇔ one debit; nothing is
charged twice; every transition in the log is allowed; ledger-sync and stale-payments report
nothing but the state the ledger holds. On both stores: the files of §2 and PostgreSQL (§12).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.core.timestamps import utc_now
from genesis_payments.jobs.reconciliation import reconcile
from genesis_payments.jobs.stale import stale_payment_findings
from genesis_payments.ledgers.frames import finance_entries_frame, payment_events_frame
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.ledgers.payment_states import fold_events
from genesis_payments.payments import PaymentManager
from tests.support.payments import approve, make_intent

VENDOR = "media:images:replicate"
AGENT = "media-agent"
PATH = "/sdxl-image?units=3"
PRICE = Decimal("0.0138")
PROJECT = Path(__file__).resolve().parents[1]

AUTHORIZE_POINTS = ["before_payload", "after_payload", "before_line:authorized", "after_line:authorized"]
CAPTURE_POINTS = ["before_line:settlement_pending", "after_line:settlement_pending", "before_request",
                  "after_request", "before_line:captured", "after_line:captured", "before_debit", "after_debit"]
CANCEL_POINTS = ["before_line:cancelled", "after_line:cancelled"]


@pytest.fixture
def store() -> str:
    """This module runs on the files store; tests/test_buyer_crashes_postgres.py runs it on PostgreSQL
    (two modules, so that two xdist workers share the matrix)."""
    return "files"


def crash(world, *args: str) -> None:
    env = {**os.environ, "GENESIS_ROOT": str(world.settings.root), "PYTHONPATH": str(PROJECT),
           "GENESIS_HTTP_TIMEOUT_SECONDS": str(world.settings.http_timeout_seconds)}
    done = subprocess.run([sys.executable, "-m", "tests.support.crash_buyer", *args], env=env, cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, f"the crash point was not reached: rc={done.returncode} {done.stderr[-2000:]}"


def check_invariants(world, *, moved: bool) -> None:
    settings = world.settings
    events = BusinessMonitor(settings).read_events()
    entries = FinanceLedger(settings).read_entries()
    assert events.bad_lines == [] and entries.bad_lines == []
    states = fold_events(events.records)
    assert states.invalid == [], states.invalid
    captured = [e for e in events.records if e.status == "captured"]
    debits = [e for e in entries.records if e.kind == "debit"]
    assert world.balance(AGENT) == (Decimal("10") - PRICE if moved else Decimal("10"))
    assert len(captured) == (1 if moved else 0)
    assert len(debits) == (1 if moved else 0)
    now = utc_now() + timedelta(seconds=1)
    report = reconcile(payment_events_frame(settings).frame, finance_entries_frame(settings).frame, now=now,
                       grace_seconds=0)
    assert report.findings == []
    stale = stale_payment_findings(payment_events_frame(settings).frame, now=now,
                                   stale_after_seconds=900)
    assert stale == []


def _approved(world):
    intent = make_intent(agent=AGENT, vendor=VENDOR, cost_usd=str(PRICE), chain=None, token=None)
    approve(world.settings, intent)
    return intent


@pytest.mark.slow
@pytest.mark.parametrize("point", AUTHORIZE_POINTS)
def test_a_crash_inside_authorize_then_one_retry_pays_once(store, world, point):
    intent = _approved(world)
    crash(world, "authorize", point, intent.model_dump_json(), "key-1", world.url(VENDOR, PATH))
    manager = PaymentManager(world.settings)
    payment = manager.authorize(intent, "key-1", url=world.url(VENDOR, PATH))
    assert manager.capture(payment.payment_id).payment.status == "captured"
    check_invariants(world, moved=True)


@pytest.mark.slow
@pytest.mark.parametrize("point", CAPTURE_POINTS)
def test_a_crash_inside_capture_then_one_retry_captures_once(store, world, point):
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_approved(world), "key-1", url=world.url(VENDOR, PATH))
    crash(world, "capture", point, payment.payment_id)
    assert manager.capture(payment.payment_id).payment.status == "captured"
    check_invariants(world, moved=True)


@pytest.mark.slow
@pytest.mark.parametrize("point", CANCEL_POINTS)
def test_a_crash_inside_cancel_then_one_retry_cancels_and_moves_nothing(store, world, point):
    manager = PaymentManager(world.settings)
    payment = manager.authorize(_approved(world), "key-1", url=world.url(VENDOR, PATH))
    crash(world, "cancel", point, payment.payment_id)
    assert manager.cancel(payment.payment_id).status == "cancelled"
    assert manager.get(payment.payment_id).status == "cancelled"
    check_invariants(world, moved=False)
