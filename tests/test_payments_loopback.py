"""Staged payments over the facilitator on loopback HTTP (the SDK's, on the local chain), and the `payments` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from genesis_payments.cli.main import main
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments import FacilitatorUnavailable, PaymentManager, fund_fake_wallets
from genesis_payments.payments.fakes.facilitator import FacilitatorServer, LocalFacilitator
from tests.support.chain import usdc_balance
from tests.support.payments import AGENT, approved_intent

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def loopback(settings, monkeypatch, local_chain):
    """The facilitator on 127.0.0.1, found by PaymentManager through GENESIS_FAKE_FACILITATOR_URL."""
    fund_fake_wallets(settings, {AGENT: Decimal("100")})
    fake = LocalFacilitator(local_chain.rpc_url)
    server = FacilitatorServer(fake, timeout_delay_seconds=1.5).start()
    monkeypatch.setenv("GENESIS_FAKE_FACILITATOR_URL", server.url)
    monkeypatch.setenv("GENESIS_HTTP_TIMEOUT_SECONDS", "0.5")
    try:
        yield fake, server
    finally:
        server.stop()


def test_full_lifecycle_over_loopback_http(loopback):
    fake, server = loopback
    settings = Settings()
    assert server.url.startswith("http://127.0.0.1:")
    manager = PaymentManager(settings)
    assert manager.facilitator.base_url == server.url
    assert {k.network for k in manager.facilitator.get_supported().kinds} == {"eip155:84532"}

    kept = manager.authorize(approved_intent(settings), "loopback-key-1")
    voided = manager.authorize(approved_intent(settings), "loopback-key-2")
    fake.fail_next("settle", "timeout")  # the server answers only after the client gave up
    with pytest.raises(FacilitatorUnavailable, match="settle failed: timed out"):
        manager.capture(kept.payment_id)
    captured = manager.capture(kept.payment_id)
    manager.cancel(voided.payment_id)

    assert captured.status == "captured" and captured.tx_hash
    assert fake.calls == {"supported": 1, "verify": 2, "settle": 2}
    statuses = [(e.payment_id, e.status) for e in BusinessMonitor(settings).read_events().records]
    assert statuses == [(kept.payment_id, "authorized"), (voided.payment_id, "authorized"),
                        (kept.payment_id, "captured"), (voided.payment_id, "cancelled")]
    assert [d.payment_id for d in FinanceLedger(settings).read_entries().records] == [kept.payment_id]
    assert usdc_balance(settings, AGENT) == Decimal("97.5")


def test_payments_cli_against_the_loopback_fake(loopback, capsys):
    settings = Settings()
    manager = PaymentManager(settings)
    first = manager.authorize(approved_intent(settings), "cli-key-1")
    second = manager.authorize(approved_intent(settings), "cli-key-2")
    capsys.readouterr()

    assert main(["payments", "capture", first.payment_id]) == 0
    assert "captured" in capsys.readouterr().out
    assert main(["payments", "cancel", second.payment_id]) == 0
    assert main(["payments", "capture", second.payment_id]) == 1
    assert "cancelled" in capsys.readouterr().err

    assert main(["payments", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["payment_id"], r["status"]) for r in rows} == {(first.payment_id, "captured"),
                                                             (second.payment_id, "cancelled")}
    assert main(["payments", "list", "--status", "captured"]) == 0
    out = capsys.readouterr().out
    assert first.payment_id in out and second.payment_id not in out
    assert main(["payments", "show", first.payment_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["status"] for e in shown["events"]] == ["authorized", "captured"]
    assert "signature" not in json.dumps(shown)
    assert main(["payments", "show", "pay_missing"]) == 1


def test_fake_facilitator_command_serves_on_a_loopback_port(genesis_root, local_chain):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    env.update({"GENESIS_ROOT": str(genesis_root), "PYTHONPATH": str(REPO)})
    process = subprocess.Popen(
        [sys.executable, "-m", "genesis_payments", "fake-facilitator", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        supported = httpx.get(f"{url}/supported", timeout=5).json()
        assert {k["network"] for k in supported["kinds"]} == {"eip155:84532"}
        injected = httpx.post(f"{url}/_fake/fail", json={"call": "verify", "kind": "5xx"}, timeout=5)
        assert injected.status_code == 200
        assert httpx.post(f"{url}/verify", json={}, timeout=5).status_code == 503
    finally:
        process.terminate()
        process.wait(timeout=10)
