"""`genesis-payments status` (§10): one look at everything an operator must know, gathered read-only.

Each part is read from where it lives (the jobs' reports, the approval chain, the payment state
machine, the balance reader, the exporter's port) and fails on its own: a part that cannot be read
says "unavailable" and why, and the rest is still shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from genesis_payments.approvals.budget_usage import SpendFollower
from genesis_payments.approvals.halts import Halt
from genesis_payments.approvals.policy import load_policy
from genesis_payments.core.money import format_usd, from_micro
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now
from genesis_payments.ledgers.payment_states import fold_events
from genesis_payments.ledgers.sources import payment_events

JOBS = ("monitor-alerts", "stale-payments", "ledger-sync", "weekly-report", "business-summary")
BUDGET_SHOWN_FROM_PERCENT = 50


def last_runs(reports_dir: Path) -> list[dict[str, Any]]:
    """Each job's newest report: state, when, findings by kind (or "never run")."""
    runs = []
    for job in JOBS:
        folder = Path(reports_dir) / job
        newest = max(folder.glob("*.json"), default=None) if folder.is_dir() else None
        if newest is None:
            runs.append({"job": job, "state": "never run", "finished_at": None, "counts": {}})
            continue
        try:
            report = json.loads(newest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            runs.append({"job": job, "state": "unreadable", "finished_at": None, "counts": {},
                         "error": f"{newest}: {exc}"})
            continue
        state = "Failed" if report.get("error") else "Completed"
        counts = {k: v for k, v in (report.get("counts") or {}).items() if v}
        run = {"job": job, "state": state, "finished_at": report.get("finished_at"), "counts": counts}
        if report.get("error"):
            run["error"] = redact(str(report["error"]))
        runs.append(run)
    return runs


def _part(read: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"available": True, "value": read()}
    except Exception as exc:  # one part failing never hides the others
        return {"available": False, "error": redact(str(exc)) or type(exc).__name__}


def wallet_part(settings: Settings) -> dict[str, Any]:
    def read() -> dict[str, str]:
        from genesis_payments.payments.balances import wallet_balances

        return {agent: format_usd(amount) for agent, amount in sorted(wallet_balances(settings).items())}

    return _part(read)


def exporter_up(settings: Settings, timeout: float = 1.0) -> dict[str, Any]:
    host = "127.0.0.1" if settings.exporter_host in ("0.0.0.0", "", "::") else settings.exporter_host
    url = f"http://{host}:{settings.exporter_port}/metrics"
    try:
        answer = httpx.get(url, timeout=timeout)
        return {"url": url, "up": answer.status_code == 200}
    except httpx.HTTPError:
        return {"url": url, "up": False}


def settlement_pending(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Payments whose state (the one state machine, §4) is `settlement_pending`."""
    events = payment_events(settings).read_records().records
    pending = []
    for state in fold_events(events).payments.values():
        if state.status == "settlement_pending":
            event = state.last_event
            pending.append({"payment_id": state.payment_id, "agent": event.agent, "vendor": event.vendor,
                            "amount_usd": format_usd(event.amount_usd),
                            "age_seconds": int((now - event.ts).total_seconds())})
    return sorted(pending, key=lambda p: -p["age_seconds"])


def collect_status(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """The whole status as one JSON-ready object (what `status --json` prints)."""
    now = now or utc_now()
    follower = SpendFollower(settings, clock=lambda: now)
    chain = _part(follower.refresh)

    def halts() -> list[dict[str, Any]]:
        if not chain["available"]:
            raise RuntimeError(chain["error"])
        held: list[Halt] = sorted(follower.halts.active.values(), key=lambda h: h.ts)
        return [h.to_dict() for h in held]

    def budgets() -> list[dict[str, Any]]:
        if not chain["available"]:
            raise RuntimeError(chain["error"])
        used = follower.usage(load_policy(settings))
        shown = [u for u in used if u.percent_used >= BUDGET_SHOWN_FROM_PERCENT]
        return [u.to_dict() for u in sorted(shown, key=lambda u: -u.ratio)]

    def reviews() -> list[dict[str, Any]]:
        if not chain["available"]:
            raise RuntimeError(chain["error"])
        pending = sorted(follower.state.pending().items(), key=lambda item: item[1].offset)
        return [{"intent_id": iid, "agent": s.agent, "vendor": s.vendor, "business_id": s.business,
                 "cost_usd": format_usd(from_micro(s.micro)), "day": s.day} for iid, s in pending]

    return {
        "root": str(settings.root),
        "jobs": _part(lambda: last_runs(settings.reports_dir)),
        "halts": _part(halts),
        "budgets": _part(budgets),
        "wallets": wallet_part(settings),
        "pending_reviews": _part(reviews),
        "settlement_pending": _part(lambda: settlement_pending(settings, now)),
        "exporter": _part(lambda: exporter_up(settings)),
    }
