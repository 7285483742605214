"""Stale-payments (§5): payments stuck between authorization and capture.

Which payments are open, since when, and which are stale or expired is the state machine's
(`ledgers.payment_states`: `PaymentBook.stale`), the same rule the exporter's gauge uses. This
module only words the findings: the payment's agent, vendor and amount are those of the event that
brought it to its current state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from genesis_payments.core.money import format_usd, from_micro
from genesis_payments.core.timestamps import epoch_us
from genesis_payments.ledgers.payment_states import STALE_KINDS, FrameFold, fold_frame

NEXT_STEP = {
    "stale_authorization": "capture it if the work was delivered, else cancel it",
    "expired_authorization": "cancel it (an expired authorization can no longer be captured)",
    "stale_settlement": "check the transaction on chain, then capture or cancel it",
}


def stale_payment_findings(events: pd.DataFrame, *, now: datetime, stale_after_seconds: int,
                           fold: FrameFold | None = None) -> list[dict[str, Any]]:
    """Every stale, expired or stuck-settling payment, oldest first (`fold`: `fold_frame(events)`,
    when the caller has it already)."""
    if events.empty:
        return []
    fold = fold or fold_frame(events)
    now_us = epoch_us(now)
    codes, kinds, since = fold.book.stale(now_us, stale_after_seconds * 1_000_000)
    findings = []
    for code, kind, start in zip(codes.tolist(), kinds.tolist(), since.tolist(), strict=True):
        row = events.iloc[int(fold.book.row[code])]
        findings.append(stale_finding(STALE_KINDS[kind], str(fold.ids[code]), row["agent"], row["vendor"],
                                      int(row["amount_micro"]), now_us - start, int(fold.book.valid_before_us[code])))
    findings.sort(key=lambda f: (-f["age_seconds"], f["payment_id"]))
    return findings


def stale_finding(kind: str, payment_id: str, agent: str, vendor: str, amount_micro: int, age_us: int,
                  valid_before_us: int) -> dict[str, Any]:
    """One finding as the report names it (the full scan's and the checkpointed run's)."""
    finding = {"kind": kind, "payment_id": payment_id, "agent": agent, "vendor": vendor,
               "amount_usd": format_usd(from_micro(amount_micro)), "age_seconds": int(np.floor(age_us / 1_000_000))}
    if kind == "expired_authorization":
        finding["valid_before"] = pd.Timestamp(valid_before_us, unit="us", tz="UTC").isoformat()
    return finding
