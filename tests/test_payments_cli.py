"""`genesis-payments payments …` against real sellers: states from the ledger, clear refusals (both stores)."""

from __future__ import annotations

import json

from genesis_payments.cli.main import main
from genesis_payments.payments import PaymentManager
from tests.support.payments import approve, make_intent

VENDOR = "media:images:replicate"


def _authorized(world):
    intent = make_intent(agent="media-agent", vendor=VENDOR, cost_usd="0.0046", chain=None, token=None)
    approve(world.settings, intent)
    return PaymentManager(world.settings).authorize(intent, "cli-key", url=world.url(VENDOR, "/sdxl-image"))


def test_list_show_capture_and_refusals_on_the_command_line(store, world, capsys):
    payment = _authorized(world)
    assert main(["payments", "list", "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["payment_id"], row["status"]) == (payment.payment_id, "authorized")
    assert main(["payments", "capture", payment.payment_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "captured"
    assert main(["payments", "show", payment.payment_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "captured"
    assert [e["status"] for e in shown["events"]] == ["authorized", "settlement_pending", "captured"]
    assert main(["payments", "cancel", payment.payment_id]) == 1
    assert "is captured; only an authorized payment" in capsys.readouterr().err


def test_capture_of_a_name_that_is_no_payment_is_an_error_not_a_traceback(store, world, capsys):
    _authorized(world)
    for name in ("idempotency", "pay_x"):
        assert main(["payments", "capture", name]) == 1
        err = capsys.readouterr().err
        assert "no staged payment" in err and "Traceback" not in err
    assert main(["payments", "capture", "../keys"]) == 2  # a path separator is no id at all: usage
    assert "an id must be" in capsys.readouterr().err


def test_resolve_of_an_authorized_payment_leaves_it_authorized(store, world, capsys):
    payment = _authorized(world)
    assert main(["payments", "resolve", payment.payment_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "authorized"
