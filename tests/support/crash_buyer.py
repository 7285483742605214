"""Run one buyer operation and SIGKILL this process at a named point (the crash-point matrix).

    python -m tests.support.crash_buyer OPERATION POINT ARG...

OPERATION is `authorize INTENT_JSON KEY URL`, `capture PAYMENT_ID` or `cancel PAYMENT_ID`.
POINT names where the process dies (`never`: nowhere, the operation runs to its end):
`<when>_<step>` with when `before`/`after` and step one of
`payload` (the signed payload's first save), `line:<status>` (a transaction-log append of that
status), `request` (the paid request to the seller), `debit` (the finance-ledger append).
The kill is real (SIGKILL, no cleanup, no flush), so what survives is what was on disk.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import httpx

from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments.manager import PaymentManager
from genesis_payments.payments.store import AuthorizationStore


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def wrap(owner: Any, name: str, when: str, matches: Any) -> None:
    original = getattr(owner, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        hit = matches(*args, **kwargs)
        if hit and when == "before":
            die()
        result = original(self, *args, **kwargs)
        if hit and when == "after":
            die()
        return result

    setattr(owner, name, wrapper)


def arm(point: str) -> None:
    when, _, step = point.partition("_")
    if step == "payload":
        wrap(AuthorizationStore, "save", when, lambda record: record.get("status") == "signed")
    elif step.startswith("line:"):
        status = step.split(":", 1)[1]
        wrap(BusinessMonitor, "log_payment", when, lambda event: event["status"] == status)
    elif step == "request":
        wrap(httpx.Client, "request", when,
             lambda *a, **k: any(h in (k.get("headers") or {}) for h in ("PAYMENT-SIGNATURE", "X-PAYMENT")))
    elif step == "debit":
        wrap(FinanceLedger, "record", when, lambda entry: True)
    elif point == "never":
        return  # run the operation to its end (two processes racing, say)
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main(argv: list[str]) -> int:
    operation, point, *rest = argv
    arm(point)
    manager = PaymentManager(Settings())
    if operation == "authorize":
        intent_json, key, url = rest
        manager.authorize(PaymentIntent.model_validate_json(intent_json), key, url=url)
    elif operation == "capture":
        manager.capture(rest[0])
    elif operation == "cancel":
        manager.cancel(rest[0])
    return 0  # the point was never reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
