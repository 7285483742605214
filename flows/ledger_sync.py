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
from genesis_payments.jobs.reconciliation import (
    ENTRY_COLUMNS_NEEDED,
    EVENT_COLUMNS_NEEDED,
    LEDGER_SYNC_KINDS,
    reconcile,
)
from genesis_payments.jobs.reports import JobReport
from genesis_payments.ledgers.id_codes import IdCodes
from genesis_payments.payments.balances import payer_address, watched_addresses
from tasks.chain import read_chain_logs, read_payment_states, read_receipt_statuses, save_chain_checkpoint
from tasks.ledgers import read_finance_entries, read_payment_events
from tasks.runtime_settings import load_runtime_settings

JOB = "ledger-sync"


@flow(name=JOB)
def ledger_sync() -> dict:
    """Captured payments vs finance debits net of refunds; recent activity waits for the next run."""
    settings = load_runtime_settings()
    report = JobReport(job=JOB)
    # Both ledgers' payment ids coded by one table, so reconcile groups by the codes as they are.
    payment_ids = IdCodes()
    events = read_payment_events(settings, columns=EVENT_COLUMNS_NEEDED, id_codes=payment_ids)
    entries = read_finance_entries(settings, columns=ENTRY_COLUMNS_NEEDED, id_codes=payment_ids)
    result = reconcile(events.frame, entries.frame, now=report.started_at,
                       grace_seconds=settings.ledger_sync_grace_seconds)
    findings, checked = list(result.findings), dict(result.checked)
    if settings.chain_reconciliation:
        chain_findings, chain_checked = reconcile_against_chain(settings)
        findings += chain_findings
        checked.update(chain_checked)
    bad_lines = events.bad_lines + entries.bad_lines
    report = job_report(report, (*LEDGER_SYNC_KINDS, *CHAIN_KINDS), findings, bad_lines, checked=checked)
    day = report.started_at.date().isoformat()
    summary = ledger_sync_summary(report.counts, checked, len(bad_lines))
    messages = [Message(f"{JOB}-summary-{day}", fingerprint(findings), "dashboard", summary)]
    if not findings:
        return deliver(report, settings, messages, resolved=[JOB])
    alert = ledger_sync_alert(report.counts, findings)
    return deliver(report, settings, [*messages, Message(JOB, fingerprint(findings), "alerts", alert)])


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
