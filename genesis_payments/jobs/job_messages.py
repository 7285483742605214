"""The Discord messages and Markdown summaries of the scheduled jobs (pure: findings in, text out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genesis_payments.core.wording import counted
from genesis_payments.jobs.stale import NEXT_STEP

RED, AMBER, GREEN, BLURPLE = 0xED4245, 0xFEE75C, 0x57F287, 0x5865F2
LIST_LINES = 20


def monitor_alert(findings: Sequence[dict[str, Any]], threshold_usd: str, streak: int) -> dict[str, Any]:
    """Alerts channel: low wallets and failing vendors."""
    low = [f for f in findings if f["kind"] == "low_balance"]
    failing = [f for f in findings if f["kind"] == "failure_streak"]
    fields = []
    if low:
        fields.append({"name": f"Wallets below {threshold_usd} USDC", "inline": False,
                       "value": _lines(f"`{f['agent']}`: {f['balance_usd']} USDC" for f in low)})
    if failing:
        fields.append({"name": f"Vendors with {streak}+ failures in a row", "inline": False,
                       "value": _lines(f"`{f['vendor']}`: {counted(f['streak'], 'failure')}" for f in failing)})
    return {"embeds": [{
        "title": "Payment monitor: action needed",
        "description": "Top up the wallets listed; check or pause the failing vendors.",
        "color": RED, "fields": fields,
    }]}


def stale_alert(findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Alerts channel: each stuck payment, and what the operator can do about it."""
    lines = [
        f"`{f['payment_id']}` {f['kind'].replace('_', ' ')}: {f['amount_usd']} USDC, agent `{f['agent']}`, "
        f"vendor `{f['vendor']}`, {_age(f['age_seconds'])} old — {NEXT_STEP[f['kind']]}"
        for f in findings
    ]
    return {"embeds": [{
        "title": f"{counted(len(findings), 'payment')} stuck between authorization and capture",
        "description": _lines(lines, limit=LIST_LINES) + "\n\nCapture or cancel with "
        "`genesis-payments payments capture ID` or `genesis-payments payments cancel ID`.",
        "color": AMBER,
    }]}


def ledger_sync_alert(counts: dict[str, int], findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Alerts channel: the discrepancies between transactions and the finance ledger."""
    lines = []
    for f in findings:
        if f["kind"] == "amount_mismatch":
            lines.append(f"`{f['payment_id']}` amount mismatch: captured {f['transaction_amount_usd']}, "
                         f"ledger {f['ledger_amount_usd']}")
        else:
            lines.append(f"`{f['payment_id']}` {f['kind'].replace('_', ' ')}: {f['amount_usd']} USDC")
    return {"embeds": [{
        "title": f"Ledger sync: {counted(len(findings), 'discrepancy', 'discrepancies')}",
        "description": _lines(lines, limit=LIST_LINES),
        "color": RED,
        "fields": [{"name": kind.replace("_", " "), "value": str(n), "inline": True} for kind, n in counts.items()],
    }]}


def ledger_sync_summary(counts: dict[str, int], checked: dict[str, int], bad_lines: int) -> dict[str, Any]:
    """Dashboard channel: the nightly sync result, clean or not."""
    total = sum(counts.values())
    outcome = "all reconciled" if total == 0 else counted(total, "discrepancy", "discrepancies")
    return {"embeds": [{
        "title": f"Nightly ledger sync: {outcome}",
        "color": GREEN if total == 0 else RED,
        "fields": [
            {"name": "Payments checked", "value": str(checked.get("payments", 0)), "inline": True},
            {"name": "Left for next run", "value": str(checked.get("deferred_payments", 0)), "inline": True},
            {"name": "Bad lines skipped", "value": str(bad_lines), "inline": True},
        ],
    }]}


def weekly_message(totals: dict[str, Any], chart_filename: str | None) -> dict[str, Any]:
    """Dashboard channel: the week's spend, against the week before, with the chart attached."""
    change = totals["change_pct"]
    embed: dict[str, Any] = {
        "title": f"Weekly spend {totals['window_start'][:10]} to {totals['window_end'][:10]} (UTC)",
        "description": f"**{totals['spend_usd']} USDC** (previous week {totals['previous_spend_usd']}, "
        + ("no spend before" if change is None else f"{change}%") + ")",
        "color": BLURPLE,
        "fields": [
            {"name": "Approvals / denials", "value": f"{totals['approvals']} / {totals['denials']}", "inline": True},
            {"name": "Failures", "value": str(totals["failures"]), "inline": True},
            {"name": "Top vendors", "inline": False, "value": _lines(
                f"`{v['vendor']}`: {v['spend_usd']}" + ("" if v["change_pct"] is None else f" ({v['change_pct']}%)")
                for v in totals["top_vendors"])},
            {"name": "By agent", "inline": False,
             "value": _lines(f"`{a}`: {amount}" for a, amount in totals["by_agent"].items())},
        ],
    }
    if chart_filename:
        embed["image"] = {"url": f"attachment://{chart_filename}"}
    return {"embeds": [embed]}


def report_markdown(report: dict[str, Any]) -> str:
    """The Prefect markdown artifact of one job run."""
    lines = [f"# {report['job']}", "", f"Run {report['started_at']} to {report.get('finished_at') or '—'}", ""]
    if report.get("counts"):
        lines += ["| finding | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in report["counts"].items()]
    if report.get("totals"):
        totals = report["totals"]
        lines += ["", f"Spend {totals['spend_usd']} USDC, previous {totals['previous_spend_usd']}, "
                      f"change {totals['change_pct'] if totals['change_pct'] is not None else '—'}%"]
    lines += ["", f"{counted(len(report.get('bad_lines', [])), 'bad line')} skipped; "
                  f"{counted(report.get('alerts_sent', 0), 'message')} sent"]
    if report.get("error"):
        lines += ["", f"**Failed:** {report['error']}"]
    return "\n".join(lines) + "\n"


def _lines(items: Any, limit: int = LIST_LINES) -> str:
    items = list(items)
    shown = items[:limit]
    if len(items) > limit:
        shown.append(f"… and {len(items) - limit} more (see the job report)")
    return "\n".join(shown) or "—"


def _age(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"
