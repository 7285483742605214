"""Nightly: reconcile every captured payment against the finance ledger and the chain, both ways, to the micro-USDC."""

from __future__ import annotations

from functools import partial

from prefect import flow

from flows._delivery import Message, deliver
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.alert_state import fingerprint
from genesis_payments.jobs.chain_reconciliation import (
    CHAIN_KINDS,
    ledger_payments,
    reconcile_chain,
    unmatched_tx_hashes,
    wallets_to_read,
)
from genesis_payments.jobs.job_messages import ledger_sync_alert, ledger_sync_summary
from genesis_payments.jobs.job_results import job_report
from genesis_payments.jobs.reconciliation import LEDGER_SYNC_KINDS
from genesis_payments.jobs.reports import JobReport
from genesis_payments.payments.balances import payer_address, watched_addresses
from tasks.chain import read_chain_logs, read_payment_states, read_receipt_statuses, save_chain_checkpoint
from tasks.checkpoints import read_ledger_sync, save_checkpoint
from tasks.runtime_settings import load_runtime_settings

JOB = "ledger-sync"


@flow(name=JOB)
def ledger_sync(full: bool = False) -> dict:
    """Captured payments vs finance debits net of refunds; recent activity waits for the next run.

    Reads only what both ledgers gained since the last run's checkpoint (`full`: both again)."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    run = read_ledger_sync(settings, report.started_at, full)
    result, bad_lines = run.result, run.bad_lines
    findings, checked = list(result.findings), dict(result.checked)
    if settings.chain_reconciliation:
        chain_findings, chain_checked = reconcile_against_chain(settings)
        findings += chain_findings
        checked.update(chain_checked)
    report = job_report(report, (*LEDGER_SYNC_KINDS, *CHAIN_KINDS), findings, bad_lines,
                        invalid_transitions=result.invalid_transitions, checked=checked, **run.run_info())
    day = report.started_at.date().isoformat()
    summary = ledger_sync_summary(report.counts, checked, len(bad_lines))
    messages = [Message(f"{JOB}-summary-{day}", fingerprint(findings), "dashboard", summary)]
    if not findings:
        outcome = deliver(report, settings, messages, resolved=[JOB])
    else:
        alert = ledger_sync_alert(report.counts, findings)
        outcome = deliver(report, settings, [*messages, Message(JOB, fingerprint(findings), "alerts", alert)])
    save_checkpoint(settings, run)  # only after the run succeeded
    return outcome


def reconcile_against_chain(settings: Settings) -> tuple[list[dict], dict]:
    """§11: each captured payment's USDC Transfer and AuthorizationUsed on chain, and no transfer unaccounted."""
    payments = ledger_payments(read_payment_states(settings), payer_of=partial(payer_address, settings))
    wallets = wallets_to_read(payments, watched_addresses(settings))
    if not wallets:
        return [], {}  # no wallet has paid or is watched: nothing on chain to account for
    scan = read_chain_logs(settings, wallets)
    receipts = read_receipt_statuses(settings, unmatched_tx_hashes(payments, scan.transfers))
    findings = reconcile_chain(payments, scan.transfers, scan.uses, receipts)
    save_chain_checkpoint(settings, scan)
    checked = {"chain_blocks_read": scan.blocks_read, "chain_head": scan.checkpoint.block_number}
    if scan.rescanned:
        checked["chain_rescanned"] = scan.rescanned
    return findings, checked


if __name__ == "__main__":
    ledger_sync()
