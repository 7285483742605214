"""Read the ledgers, the approval log and the wallets (disk and network: retried)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import open_approval_log
from genesis_payments.ledgers.frames import FrameRead, finance_entries_frame, payment_events_frame
from genesis_payments.ledgers.jsonl import ReadResult
from genesis_payments.payments.balances import wallet_balances
from tasks.retry import IO_TASK_OPTIONS


@task(name="read-payment-events", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_payment_events(settings: Settings, columns: Sequence[str] | None = None) -> FrameRead:
    """`transactions.jsonl` (or its PostgreSQL table) as a frame, bad lines counted and kept aside."""
    return payment_events_frame(settings, columns=columns)


@task(name="read-finance-entries", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_finance_entries(settings: Settings, columns: Sequence[str] | None = None) -> FrameRead:
    """`finance_ledger.jsonl` (or its PostgreSQL table) as a frame, bad lines counted and kept aside."""
    return finance_entries_frame(settings, columns=columns)


@task(name="read-approval-log", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_approval_decisions(settings: Settings) -> ReadResult[ApprovalDecision]:
    """Every decision of the approval log, bad lines kept aside."""
    return open_approval_log(settings).read()


@task(name="read-wallet-balances", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_wallet_balances(settings: Settings) -> dict[str, Decimal]:
    """Each agent's USDC balance (fake wallets file, or the chain over JSON-RPC)."""
    return wallet_balances(settings)
