"""`genesis-payments status [--json]`: each job's last run, halts, budgets over 50 %, wallets, pending
reviews, unsettled payments and the exporter, on one screen (rich tables) or as one JSON object."""

from __future__ import annotations

import argparse
import json
from typing import Any

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.jobs.status import collect_status


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("status", help="one screen: jobs, halts, budgets, wallets, reviews, unsettled")
    parser.add_argument("--json", action="store_true", help="print the status as one JSON object")
    parser.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    status = collect_status(load_settings())
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    render(status)
    return 0


def render(status: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]Genesis payments[/bold] — {status['root']}")

    def table(title: str, part: dict[str, Any], columns: list[str], rows: Any, empty: str) -> None:
        if not part["available"]:
            console.print(f"[bold]{title}[/bold]: [red]unavailable[/red] ({part['error']})")
            return
        rows = list(rows(part["value"]))
        if not rows:
            console.print(f"[bold]{title}[/bold]: {empty}")
            return
        shown = Table(title=title, title_justify="left")
        for column in columns:
            shown.add_column(column)
        for row in rows:
            shown.add_row(*[str(cell) for cell in row])
        console.print(shown)

    def job_rows(runs: list[dict[str, Any]]) -> Any:
        for run in runs:
            state = run["state"]
            style = {"Completed": "green", "Failed": "red"}.get(state, "yellow")
            findings = ", ".join(f"{kind} {n}" for kind, n in run["counts"].items()) or "none"
            yield (run["job"], f"[{style}]{state}[/{style}]", run["finished_at"] or "—", findings)

    table("Jobs (last run)", status["jobs"], ["job", "state", "finished", "findings"], job_rows, "no reports")
    table("Halts in force", status["halts"], ["scope", "key", "by", "since", "reason"],
          lambda halts: ((h["scope"], h["key"] or "—", h["by"], h["ts"], h["reason"]) for h in halts),
          "none")
    table("Budgets over 50 % used", status["budgets"], ["scope", "key", "period", "used", "limit", "%"],
          lambda used: ((u["scope"], u["key"], f"{u['period']} {u['label']}", u["used_usd"], u["limit_usd"],
                         u["percent_used"]) for u in used), "none")
    table("Wallets (USDC)", status["wallets"], ["agent", "balance"], lambda w: w.items(), "no wallets")
    table("Pending reviews", status["pending_reviews"], ["intent", "agent", "vendor", "cost", "business"],
          lambda reviews: ((r["intent_id"], r["agent"], r["vendor"], r["cost_usd"], r["business_id"])
                           for r in reviews), "none")
    table("Payments in settlement_pending", status["settlement_pending"],
          ["payment", "agent", "vendor", "amount", "age (s)"],
          lambda pending: ((p["payment_id"], p["agent"], p["vendor"], p["amount_usd"], p["age_seconds"])
                           for p in pending), "none")
    exporter = status["exporter"]
    if exporter["available"]:
        up = exporter["value"]["up"]
        console.print(f"[bold]Exporter[/bold]: {'[green]up[/green]' if up else '[red]down[/red]'} "
                      f"({exporter['value']['url']})")
