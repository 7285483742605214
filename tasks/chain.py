"""Read the chain for ledger-sync: the agents' USDC logs from the checkpoint, and receipts (RPC: retried)."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_payments.chain.receipts import receipt_status
from genesis_payments.chain.rpc import connect
from genesis_payments.chain.scan import (
    ChainScan,
    chain_checkpoint_file,
    keep_chain_checkpoint,
    load_chain_checkpoint,
    scan_chain,
)
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.ledgers.payment_states import PaymentStates, fold_events
from genesis_payments.payments.chain_endpoint import chain_endpoint
from tasks.retry import IO_TASK_OPTIONS


def chain_checkpoint_path(settings: Settings):
    return chain_checkpoint_file(settings)


@task(name="read-payment-states", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_payment_states(settings: Settings) -> PaymentStates:
    """Every payment's state (§4), folded from `transactions.jsonl` in file order."""
    result = BusinessMonitor(settings).read_events()
    return fold_events(result.records)


@task(name="scan-chain", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_chain_logs(settings: Settings, wallets: Sequence[str]) -> ChainScan:
    """The wallets' USDC Transfer/AuthorizationUsed logs, new blocks only unless the chain changed."""
    endpoint = chain_endpoint(settings)
    w3 = connect(endpoint.rpc_url, timeout_seconds=settings.http_timeout_seconds)
    return scan_chain(w3, endpoint.usdc, wallets, load_chain_checkpoint(settings),
                      start_block=settings.chain_start_block, block_range=settings.chain_block_range)


@task(name="read-receipts", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_receipt_statuses(settings: Settings, tx_hashes: Sequence[str]) -> dict[str, str]:
    """`success`/`reverted`/`not_found` per hash (only for payments the logs did not match)."""
    if not tx_hashes:
        return {}
    w3 = connect(chain_endpoint(settings).rpc_url, timeout_seconds=settings.http_timeout_seconds)
    return {tx_hash: receipt_status(w3, tx_hash) for tx_hash in tx_hashes}


@task(name="save-chain-checkpoint", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def save_chain_checkpoint(settings: Settings, scan: ChainScan) -> None:
    keep_chain_checkpoint(settings, scan.checkpoint)
