"""A transaction's receipt, as a plain verdict: mined and successful, reverted, or not on chain."""

from __future__ import annotations

import re

from web3 import Web3
from web3.exceptions import TransactionNotFound

from genesis_payments.chain.rpc import with_retries

TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def is_tx_hash(value: object) -> bool:
    return isinstance(value, str) and bool(TX_HASH.match(value))


def receipt_status(w3: Web3, tx_hash: str) -> str:
    """`success`, `reverted` or `not_found` (a hash that is not hex is `not_found` without asking)."""
    if not is_tx_hash(tx_hash):
        return "not_found"
    try:
        receipt = with_retries(w3, f"receipt of {tx_hash}", lambda: w3.eth.get_transaction_receipt(tx_hash))
    except TransactionNotFound:
        return "not_found"
    return "success" if int(receipt["status"]) == 1 else "reverted"
