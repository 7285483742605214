"""Has an EIP-3009 authorization been spent on chain, and by which transaction (§9 `settlement_pending`).

A `settlement_pending` payment is settled exactly when its `(payer, nonce)` is used on the token:
`authorization_used` asks the token (`authorizationState`); `authorization_tx` finds the
transaction whose `AuthorizationUsed(payer, nonce)` log says so.
"""

from __future__ import annotations

from web3 import Web3

from genesis_payments.chain.logs import DEFAULT_BLOCK_RANGE, block_ranges, get_logs_bounded, hex_bytes
from genesis_payments.chain.rpc import with_retries
from genesis_payments.chain.usdc import address_topic, topic_of, usdc_contract


def nonce_bytes(nonce: str) -> bytes:
    """A 32-byte EIP-3009 nonce from its 0x-hex text; ValueError when it is not one."""
    raw = bytes.fromhex(nonce.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"nonce {nonce!r} is not 32 bytes of hex")
    return raw


def authorization_used(w3: Web3, usdc: str, payer: str, nonce: str) -> bool:
    """True when the token says `payer`'s authorization `nonce` has been used (or cancelled)."""
    token = usdc_contract(w3, usdc)
    call = token.functions.authorizationState(Web3.to_checksum_address(payer), nonce_bytes(nonce))
    return bool(with_retries(w3, f"authorizationState({payer}, {nonce})", call.call))


def authorization_tx(w3: Web3, usdc: str, payer: str, nonce: str, *, from_block: int = 0,
                     block_range: int = DEFAULT_BLOCK_RANGE) -> str | None:
    """The hash of the transaction that used `payer`'s authorization `nonce`, or None if none has."""
    token = usdc_contract(w3, usdc)
    topics = [topic_of("AuthorizationUsed"), address_topic(payer), "0x" + nonce_bytes(nonce).hex()]
    head = with_retries(w3, "eth_blockNumber", lambda: w3.eth.block_number)
    for start, end in block_ranges(from_block, head, block_range):
        logs = get_logs_bounded(w3, {"address": token.address, "topics": topics}, start, end)
        if logs:
            return hex_bytes(logs[0]["transactionHash"])
    return None

