"""Stale-payments (§5): payments stuck between authorization and capture.

A payment's state is its latest event (time order, file order on ties). One still `authorized`
is `expired_authorization` once past its `valid_before` (it can no longer be captured, so it is
not also reported stale), else `stale_authorization` when authorized longer than the threshold.
One in `settlement_pending` longer than the threshold is `stale_settlement`. The age of an
authorization counts from its first `authorized` event; a settlement's from when it went pending.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from genesis_payments.core.money import format_usd, from_micro

STALE_KINDS = ("stale_authorization", "expired_authorization", "stale_settlement")
NEXT_STEP = {
    "stale_authorization": "capture it if the work was delivered, else cancel it",
    "expired_authorization": "cancel it (an expired authorization can no longer be captured)",
    "stale_settlement": "check the transaction on chain, then capture or cancel it",
}


def stale_payment_findings(events: pd.DataFrame, *, now: datetime, stale_after_seconds: int) -> list[dict[str, Any]]:
    """Every stale, expired or stuck-settling payment, oldest first."""
    if events.empty:
        return []
    ordered = events.sort_values(["ts", "line"], kind="stable")
    latest = ordered.drop_duplicates("payment_id", keep="last")
    open_payments = latest[latest["status"].isin(("authorized", "settlement_pending"))]
    if open_payments.empty:
        return []
    first_authorized = (
        ordered[ordered["status"] == "authorized"].drop_duplicates("payment_id", keep="first").set_index("payment_id")
    )
    now_ts = pd.Timestamp(now)
    findings = []
    for row in open_payments.itertuples(index=False):
        if row.status == "authorized":
            since = first_authorized["ts"].get(row.payment_id, row.ts)
            valid_before = getattr(row, "valid_before", None)
            if valid_before is not None and not pd.isna(valid_before) and now_ts > valid_before:
                kind = "expired_authorization"
            elif (now_ts - since).total_seconds() > stale_after_seconds:
                kind = "stale_authorization"
            else:
                continue
        else:
            since = row.ts
            if (now_ts - since).total_seconds() <= stale_after_seconds:
                continue
            kind = "stale_settlement"
        finding = {
            "kind": kind, "payment_id": row.payment_id, "agent": row.agent, "vendor": row.vendor,
            "amount_usd": format_usd(from_micro(int(row.amount_micro))),
            "age_seconds": int(np.floor((now_ts - since).total_seconds())),
        }
        if kind == "expired_authorization":
            finding["valid_before"] = pd.Timestamp(valid_before).isoformat()
        findings.append(finding)
    findings.sort(key=lambda f: (-f["age_seconds"], f["payment_id"]))
    return findings
