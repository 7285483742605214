"""Craft ledgers line by line for job tests: known problems, exact amounts, chosen timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genesis_payments.core.timestamps import format_utc

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def at(minutes: float = 0, base: datetime = T0) -> str:
    return format_utc(base + timedelta(minutes=minutes))


def event(payment_id: str, status: str, ts: str, amount: str = "10", agent: str = "agent-a",
          vendor: str = "openai", **extra: Any) -> dict[str, Any]:
    return {"event_id": f"{payment_id}-{status}-{ts}", "ts": ts, "payment_id": payment_id, "status": status,
            "agent": agent, "vendor": vendor, "chain": "eip155:8453", "token": "USDC", "amount_usd": amount, **extra}


def entry(payment_id: str, amount: str = "10", ts: str | None = None, kind: str = "debit", n: int = 0,
          agent: str = "agent-a", vendor: str = "openai") -> dict[str, Any]:
    return {"entry_id": f"{payment_id}-{kind}-{n}", "ts": ts or at(1), "payment_id": payment_id, "agent": agent,
            "vendor": vendor, "amount_usd": amount, "kind": kind}


def write_lines(path: Path, lines: list[dict[str, Any] | str | bytes]) -> Path:
    """Records as canonical JSON lines; str/bytes items are written as they are (bad lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for item in lines:
            if isinstance(item, bytes):
                handle.write(item)
            elif isinstance(item, str):
                handle.write(item.encode())
            else:
                handle.write(json.dumps(item, separators=(",", ":")).encode() + b"\n")
    return path


def write_ledger(settings: Any, which: str, lines: list[dict[str, Any]]) -> None:
    """`lines` into the payment events ("events") or finance entries ("entries") of the store in use:
    on files exactly `write_lines`; on PostgreSQL each record appended through the store."""
    from genesis_payments.core.records import FinanceEntry, PaymentEvent
    from genesis_payments.ledgers.ledgers import coerce_record
    from genesis_payments.ledgers.sources import finance_entries, payment_events

    if not settings.uses_postgres:
        write_lines(settings.transactions_path if which == "events" else settings.finance_ledger_path, lines)
        return
    model, id_field, ledger = ((PaymentEvent, "event_id", payment_events(settings)) if which == "events"
                               else (FinanceEntry, "entry_id", finance_entries(settings)))
    ledger.append_many([coerce_record(model, line, id_field) for line in lines])
