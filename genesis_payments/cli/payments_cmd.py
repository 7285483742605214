"""`genesis-payments payments list|show|capture|cancel` and `genesis-payments fake-facilitator`.

`payments list` and `show` read the transaction log (a payment's state is its latest event) and
never print a signed authorization. `capture` and `cancel` go through PaymentManager, so they speak
to the configured facilitator: live `GENESIS_FACILITATOR_URL`, or in fake mode the loopback
`GENESIS_FAKE_FACILITATOR_URL` when set, else the fake in process.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from genesis_payments.cli.arguments import id_argument, usd_argument
from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.records import PAYMENT_STATUSES, PaymentEvent
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.payments.errors import PaymentNotFound


def register(commands: argparse._SubParsersAction) -> None:
    payments = commands.add_parser("payments", help="operate on staged payments")
    actions = payments.add_subparsers(dest="payments_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="payments and their current state")
    listing.add_argument("--status", choices=PAYMENT_STATUSES, help="only payments in this state")
    listing.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="one payment's events")
    show.add_argument("payment_id", type=id_argument)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)

    for name, helptext in (("capture", "settle an authorized payment"), ("cancel", "void an authorized payment")):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("payment_id", type=id_argument)
        if name == "capture":
            action.add_argument("--amount", type=usd_argument, help="USDC to capture (default: the authorized amount)")
        action.add_argument("--json", action="store_true")
        action.set_defaults(handler=run_capture if name == "capture" else run_cancel)

    fake = commands.add_parser("fake-facilitator", help="serve the fake x402 facilitator on a loopback port")
    fake.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    fake.add_argument("--port", type=int, default=4022, help="port (default 4022; 0 picks a free one)")
    fake.set_defaults(handler=run_fake_facilitator)


def _latest_events() -> tuple[dict[str, PaymentEvent], dict[str, list[PaymentEvent]], int]:
    result = BusinessMonitor(load_settings()).read_events()
    history: dict[str, list[PaymentEvent]] = {}
    for event in result.records:
        history.setdefault(event.payment_id, []).append(event)
    latest = {pid: events[-1] for pid, events in history.items()}
    return latest, history, len(result.bad_lines)


def run_list(args: argparse.Namespace) -> int:
    latest, history, bad = _latest_events()
    rows = [e for e in latest.values() if args.status is None or e.status == args.status]
    rows.sort(key=lambda e: history[e.payment_id][0].ts)
    if args.json:
        for event in rows:
            print(json.dumps(_row(event, history[event.payment_id][0])))
    else:
        print(f"{'PAYMENT':38} {'STATUS':19} {'AMOUNT':>12} {'AGENT':18} VENDOR")
        for event in rows:
            print(f"{event.payment_id:38} {event.status:19} {event.amount_usd:>12} {event.agent:18} {event.vendor}")
        print(f"{len(rows)} payment(s)", file=sys.stderr)
    if bad:
        print(f"warning: skipped {bad} bad line(s) in the transaction log", file=sys.stderr)
    return 0


def _row(event: PaymentEvent, first: PaymentEvent) -> dict[str, Any]:
    row = event.to_json_dict()
    row["authorized_at"] = first.to_json_dict()["ts"]
    return row


def run_show(args: argparse.Namespace) -> int:
    _latest, history, _bad = _latest_events()
    events = history.get(args.payment_id)
    if not events:
        raise PaymentNotFound(f"no payment {args.payment_id!r} in the transaction log")
    if args.json:
        print(json.dumps({"payment_id": args.payment_id, "status": events[-1].status,
                          "events": [e.to_json_dict() for e in events]}))
        return 0
    last = events[-1]
    for label, value in (("payment", last.payment_id), ("status", last.status),
                         ("amount", f"{last.amount_usd} {last.token} on {last.chain}"), ("agent", last.agent),
                         ("vendor", last.vendor), ("intent", last.intent_id), ("key", last.idempotency_key)):
        print(f"{label:9} {value}")
    if last.valid_before:
        print(f"valid to  {last.to_json_dict()['valid_before']}")
    if last.tx_hash:
        print(f"tx        {last.tx_hash}")
    for event in events:
        extra = f" error={event.error}" if event.error else ""
        print(f"  {event.to_json_dict()['ts']}  {event.status}{extra}")
    return 0


def _manager():
    from genesis_payments.payments.manager import PaymentManager

    return PaymentManager(load_settings())


def _print_payment(payment: Any, as_json: bool) -> None:
    if as_json:
        print(payment.model_dump_json(include={"payment_id", "status", "amount_usd", "valid_before", "tx_hash",
                                               "error", "intent_id", "agent", "vendor", "chain", "token"}))
    else:
        tx = f" tx {payment.tx_hash}" if payment.tx_hash else ""
        print(f"{payment.payment_id} {payment.status} {payment.amount_usd} {payment.token}{tx}")


def run_capture(args: argparse.Namespace) -> int:
    payment = _manager().capture(args.payment_id, args.amount)
    _print_payment(payment, args.json)
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    _print_payment(_manager().cancel(args.payment_id), args.json)
    return 0


def run_fake_facilitator(args: argparse.Namespace) -> int:
    from genesis_payments.payments.fakes.fake_facilitator import FakeFacilitator, FakeFacilitatorServer

    settings = load_settings()
    server = FakeFacilitatorServer(FakeFacilitator(settings), host=args.host, port=args.port)
    # The first stdout line is the URL, so a parent process can read where to connect.
    print(server.url, flush=True)
    print(f"fake x402 facilitator on {server.url} (root {settings.root}); Ctrl-C stops it", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0
