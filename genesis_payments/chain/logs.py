"""USDC `Transfer` and `AuthorizationUsed` logs, read in bounded, retried `eth_getLogs` ranges.

Nodes cap how many blocks (and results) one `eth_getLogs` may cover; a range the node refuses is
halved and tried again, down to one block. Logs are filtered by the USDC address and by the
indexed payer (`from` of a Transfer, `authorizer` of an AuthorizationUsed), so only the agents'
own activity is read, however busy the token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from web3 import Web3

from genesis_payments.chain.rpc import ChainRpcError, with_retries
from genesis_payments.chain.usdc import address_topic, topic_of, usdc_contract

DEFAULT_BLOCK_RANGE = 2_000


@dataclass(frozen=True)
class UsdcTransfer:
    """One USDC `Transfer(payer → pay_to, value)` log; addresses lower-case, value in micro-USDC."""

    tx_hash: str
    log_index: int
    block_number: int
    payer: str
    pay_to: str
    value: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> list[Any]:
        """The fields in order (UsdcTransfer(*row) rebuilds it): a checkpoint holds thousands."""
        return [self.tx_hash, self.log_index, self.block_number, self.payer, self.pay_to, self.value]


@dataclass(frozen=True)
class AuthorizationUse:
    """One `AuthorizationUsed(authorizer, nonce)` log: an EIP-3009 authorization spent on chain."""

    tx_hash: str
    log_index: int
    block_number: int
    authorizer: str
    nonce: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> list[Any]:
        """The fields in order (AuthorizationUse(*row) rebuilds it)."""
        return [self.tx_hash, self.log_index, self.block_number, self.authorizer, self.nonce]


def hex_bytes(value: Any) -> str:
    return "0x" + bytes(value).hex().removeprefix("0x")


def block_ranges(first: int, last: int, size: int) -> Iterator[tuple[int, int]]:
    """[first, last] cut into inclusive ranges of at most `size` blocks."""
    start = first
    while start <= last:
        end = min(last, start + size - 1)
        yield start, end
        start = end + 1


def get_logs_bounded(w3: Web3, params: dict[str, Any], first: int, last: int) -> list[Any]:
    """One range's logs; a refused range is split in two, down to a single block."""
    query = {**params, "fromBlock": first, "toBlock": last}
    try:
        return with_retries(w3, f"eth_getLogs blocks {first}..{last}", lambda: w3.eth.get_logs(query))
    except ChainRpcError:
        if first == last:
            raise
        middle = (first + last) // 2
        return get_logs_bounded(w3, params, first, middle) + get_logs_bounded(w3, params, middle + 1, last)


def payer_logs(w3: Web3, usdc: str, payers: Iterable[str], first: int, last: int, *,
               block_range: int = DEFAULT_BLOCK_RANGE) -> tuple[list[UsdcTransfer], list[AuthorizationUse]]:
    """Every USDC Transfer out of, and AuthorizationUsed by, `payers` in blocks [first, last]."""
    topics = sorted({address_topic(p) for p in payers})
    if not topics or last < first:
        return [], []
    token = usdc_contract(w3, usdc)
    address = token.address
    transfers: list[UsdcTransfer] = []
    uses: list[AuthorizationUse] = []
    transfer_query = {"address": address, "topics": [topic_of("Transfer"), topics]}
    use_query = {"address": address, "topics": [topic_of("AuthorizationUsed"), topics]}
    for start, end in block_ranges(first, last, block_range):
        for raw in get_logs_bounded(w3, transfer_query, start, end):
            args = token.events.Transfer().process_log(raw)["args"]
            transfers.append(UsdcTransfer(hex_bytes(raw["transactionHash"]), int(raw["logIndex"]),
                                          int(raw["blockNumber"]), args["from"].lower(), args["to"].lower(),
                                          int(args["value"])))
        for raw in get_logs_bounded(w3, use_query, start, end):
            args = token.events.AuthorizationUsed().process_log(raw)["args"]
            uses.append(AuthorizationUse(hex_bytes(raw["transactionHash"]), int(raw["logIndex"]),
                                         int(raw["blockNumber"]), args["authorizer"].lower(), hex_bytes(args["nonce"])))
    return transfers, uses
