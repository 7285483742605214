"""`genesis-payments payments list|show|capture|cancel|resolve` and `genesis-payments buy URL`.

`payments list` and `show` read the transaction log through the one payment state machine
(`ledgers.payment_states`) and never print a signed authorization. `capture`, `cancel` and
`resolve` go through PaymentManager, the buyer: capture sends (or re-sends) the paid request to
the seller. `buy` quotes a resource, asks the approval workflow, pays, and writes the body to
`--output` or stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from genesis_payments.cli.arguments import id_argument
from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.money import parse_usd
from genesis_payments.core.records import PAYMENT_STATUSES
from genesis_payments.core.wording import counted
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.ledgers.payment_states import fold_events
from genesis_payments.payments.errors import PaymentNotFound

VIEW_FIELDS = {"payment_id", "status", "amount_usd", "valid_before", "tx_hash", "error", "intent_id", "agent",
               "vendor", "chain", "token", "resource_url", "pay_to", "payer"}


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

    for name, helptext, handler in (
        ("capture", "send (or re-send) the paid request of an authorized payment", lambda a: _act(a, "capture")),
        ("cancel", "void an authorized payment whose paid request was never sent", lambda a: _act(a, "cancel")),
        ("resolve", "settle a pending payment's outcome from the chain", lambda a: _act(a, "resolve")),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("payment_id", type=id_argument)
        action.add_argument("--json", action="store_true")
        action.set_defaults(handler=handler)

    buy = commands.add_parser("buy", help="quote, approve, pay and fetch one x402 resource")
    buy.add_argument("url")
    buy.add_argument("--agent", default="cli-agent", help="the agent buying (default cli-agent)")
    buy.add_argument("--max-usd", type=_money_arg, help="refuse a price above this many USDC")
    buy.add_argument("--method", default="GET", choices=("GET", "POST", "PUT", "DELETE", "HEAD"))
    buy.add_argument("--business", default="manual", help="business id the spend counts against")
    buy.add_argument("--output", type=Path, help="write the body here instead of stdout")
    buy.add_argument("--json", action="store_true", help="print the payment as JSON on stdout")
    buy.set_defaults(handler=run_buy)


def _money_arg(text: str) -> Any:
    try:
        return parse_usd(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _states():
    result = BusinessMonitor(load_settings()).read_events()
    return fold_events(result.records), len(result.bad_lines)


def run_list(args: argparse.Namespace) -> int:
    from genesis_payments.payments.manager import _state_view

    states, bad = _states()
    rows = [s for s in states.payments.values() if args.status is None or s.status == args.status]
    rows.sort(key=lambda s: s.events[0].ts)
    if args.json:
        for state in rows:
            row = _state_view(state).model_dump(mode="json", include=VIEW_FIELDS, exclude_none=True)
            row["authorized_at"] = state.events[0].to_json_dict()["ts"]
            print(json.dumps(row))
    else:
        print(f"{'PAYMENT':38} {'STATUS':19} {'AMOUNT':>12} {'AGENT':18} VENDOR")
        for state in rows:
            last = state.last_event
            print(f"{state.payment_id:38} {state.status:19} {last.to_json_dict()['amount_usd']:>12} "
                  f"{last.agent:18} {last.vendor}")
        print(counted(len(rows), "payment"), file=sys.stderr)
    if bad:
        print(f"warning: skipped {counted(bad, 'bad line')} in the transaction log", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    states, _bad = _states()
    state = states.get(args.payment_id)
    if state is None:
        raise PaymentNotFound(f"no payment {args.payment_id!r} in the transaction log")
    events = state.events
    if args.json:
        print(json.dumps({"payment_id": args.payment_id, "status": state.status,
                          "events": [e.to_json_dict() for e in events]}))
        return 0
    last = state.last_event
    for label, value in (("payment", last.payment_id), ("status", state.status),
                         ("amount", f"{last.to_json_dict()['amount_usd']} {last.token} on {last.chain}"),
                         ("agent", last.agent), ("vendor", last.vendor), ("intent", last.intent_id),
                         ("key", last.idempotency_key), ("resource", last.resource_url), ("pay to", last.pay_to)):
        if value:
            print(f"{label:9} {value}")
    if last.valid_before:
        print(f"valid to  {last.to_json_dict()['valid_before']}")
    if last.tx_hash:
        print(f"tx        {last.tx_hash}")
    for event in events:
        extra = f" ({event.error})" if event.error else ""
        print(f"  {event.to_json_dict()['ts']}  {event.status}{extra}")
    return 0


def _print_payment(payment: Any, as_json: bool) -> None:
    if as_json:
        print(payment.model_dump_json(include=VIEW_FIELDS, exclude_none=True))
    else:
        tx = f" tx {payment.tx_hash}" if payment.tx_hash else ""
        print(f"{payment.payment_id} {payment.status} {payment.amount_usd} {payment.token}{tx}")


def _act(args: argparse.Namespace, action: str) -> int:
    from genesis_payments.payments.manager import PaymentManager

    manager = PaymentManager(load_settings())
    if action == "capture":
        payment = manager.capture(args.payment_id).payment
    elif action == "cancel":
        payment = manager.cancel(args.payment_id)
    else:
        payment = manager.resolve(args.payment_id)
    _print_payment(payment, args.json)
    return 0


def run_buy(args: argparse.Namespace) -> int:
    from genesis_payments.payments.purchase import Order, buy

    order = Order(url=args.url, agent=args.agent, business_id=args.business, method=args.method,
                  max_usd=args.max_usd)
    result = buy(load_settings(), order)
    body = result.free_body if result.purchase is None else (result.purchase.body or b"")
    if args.output is not None:
        args.output.write_bytes(body)
    if args.json:
        report: dict[str, Any] = {"free": result.purchase is None}
        if result.purchase is not None:
            report["payment"] = result.purchase.payment.model_dump(mode="json", include=VIEW_FIELDS,
                                                                   exclude_none=True)
        if args.output is None:
            try:
                report["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                report["body_base64"] = base64.b64encode(body).decode()
        print(json.dumps(report))
        return 0
    if result.purchase is not None:
        payment = result.purchase.payment
        print(f"paid {payment.amount_usd} {payment.token} to {payment.vendor} ({payment.payment_id}, "
              f"tx {payment.tx_hash})", file=sys.stderr)
    else:
        print("the resource asked for no payment", file=sys.stderr)
    if args.output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
