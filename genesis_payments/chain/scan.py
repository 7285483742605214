"""The agents' USDC activity on chain, read incrementally from a checkpoint (§5 "cost follows new work").

The checkpoint (`data/a2a-x402/state/ledger-sync-chain.json`) holds the last block read (number
and hash), the wallets it was read for, and the open state a full rescan would rebuild: every
Transfer out of, and AuthorizationUsed by, those wallets so far. A run reads only the blocks after
it. When the chain under the checkpoint changed (that block's hash differs, or the chain is
shorter: a reorg, or anvil reverted to a snapshot), or a wallet was added, the whole range is read
again and the result says why, so the findings are always those of a full rescan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from genesis_payments.chain.logs import DEFAULT_BLOCK_RANGE, AuthorizationUse, UsdcTransfer, hex_bytes, payer_logs
from genesis_payments.chain.rpc import with_retries
from genesis_payments.core.files import read_json_file, write_json_atomic

CHECKPOINT_VERSION = 2


@dataclass
class ChainCheckpoint:
    usdc: str
    block_number: int
    block_hash: str
    payers: list[str]
    transfers: list[UsdcTransfer] = field(default_factory=list)
    uses: list[AuthorizationUse] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"version": CHECKPOINT_VERSION, "usdc": self.usdc, "block_number": self.block_number,
                "block_hash": self.block_hash, "payers": self.payers,
                # Rows in the field order of UsdcTransfer / AuthorizationUse: thousands of them.
                "transfers": [t.row() for t in self.transfers], "uses": [u.row() for u in self.uses]}

    @classmethod
    def from_dict(cls, data: Any) -> ChainCheckpoint | None:
        """A checkpoint from its file's JSON; None for anything unreadable (it is then rebuilt)."""
        try:
            if data.get("version") != CHECKPOINT_VERSION:
                return None
            return cls(usdc=str(data["usdc"]), block_number=int(data["block_number"]),
                       block_hash=str(data["block_hash"]), payers=[str(p) for p in data["payers"]],
                       transfers=[UsdcTransfer(*row) for row in data["transfers"]],
                       uses=[AuthorizationUse(*row) for row in data["uses"]])
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclass
class ChainScan:
    """What the chain holds for the wallets, up to `checkpoint.block_number`, and how it was read."""

    checkpoint: ChainCheckpoint
    blocks_read: int
    rescanned: str | None  # why the whole range was read again, or None for an incremental read

    @property
    def transfers(self) -> list[UsdcTransfer]:
        return self.checkpoint.transfers

    @property
    def uses(self) -> list[AuthorizationUse]:
        return self.checkpoint.uses


def load_checkpoint(path: Path) -> ChainCheckpoint | None:
    return ChainCheckpoint.from_dict(read_json_file(path, default=None))


def save_checkpoint(path: Path, checkpoint: ChainCheckpoint) -> None:
    write_json_atomic(path, checkpoint.to_dict(), compact=True)


CHAIN_READER = "ledger-sync-chain"


def chain_checkpoint_file(settings: Any) -> Path:
    return settings.state_dir / f"{CHAIN_READER}.json"


def load_chain_checkpoint(settings: Any) -> ChainCheckpoint | None:
    """Ledger-sync's chain checkpoint on the store in use: `state/ledger-sync-chain.json`, or its row
    of PostgreSQL's `job_checkpoints`."""
    if settings.uses_postgres:
        from genesis_payments.postgres.job_state import PgCheckpoints

        return ChainCheckpoint.from_dict(PgCheckpoints(settings).load_document(CHAIN_READER))
    return load_checkpoint(chain_checkpoint_file(settings))


def keep_chain_checkpoint(settings: Any, checkpoint: ChainCheckpoint) -> None:
    if settings.uses_postgres:
        from genesis_payments.postgres.job_state import PgCheckpoints

        PgCheckpoints(settings).save_document(CHAIN_READER, checkpoint.to_dict())
        return
    save_checkpoint(chain_checkpoint_file(settings), checkpoint)


def _block_hash(w3: Web3, number: int) -> str | None:
    """The hash of block `number`, or None when the chain is shorter than that."""
    head = with_retries(w3, "eth_blockNumber", lambda: w3.eth.block_number)
    if number > head:
        return None
    block = with_retries(w3, f"block {number}", lambda: w3.eth.get_block(number))
    return hex_bytes(block["hash"])


def why_rescan(w3: Web3, usdc: str, payers: list[str], checkpoint: ChainCheckpoint | None) -> str | None:
    """Why the checkpoint cannot be continued from (None: it can)."""
    if checkpoint is None:
        return "no checkpoint"
    if checkpoint.usdc.lower() != usdc.lower():
        return "another USDC contract"
    if not set(payers) <= set(checkpoint.payers):
        return "new wallets to watch"
    if _block_hash(w3, checkpoint.block_number) != checkpoint.block_hash:
        return f"the chain changed under the checkpoint (block {checkpoint.block_number})"
    return None


def scan_chain(w3: Web3, usdc: str, payers: Iterable[str], checkpoint: ChainCheckpoint | None, *,
               start_block: int = 0, block_range: int = DEFAULT_BLOCK_RANGE) -> ChainScan:
    """The wallets' USDC logs up to the head: the blocks after `checkpoint`, or all from `start_block`."""
    wallets = sorted({p.lower() for p in payers} | set(checkpoint.payers if checkpoint else []))
    rescan = why_rescan(w3, usdc, wallets, checkpoint)
    head = with_retries(w3, "eth_blockNumber", lambda: w3.eth.block_number)
    if rescan is None and checkpoint is not None:
        first, transfers, uses = checkpoint.block_number + 1, list(checkpoint.transfers), list(checkpoint.uses)
    else:
        first, transfers, uses = start_block, [], []
    new_transfers, new_uses = payer_logs(w3, usdc, wallets, first, head, block_range=block_range)
    head_hash = with_retries(w3, f"block {head}", lambda: hex_bytes(w3.eth.get_block(head)["hash"]))
    updated = ChainCheckpoint(usdc=usdc, block_number=head, block_hash=head_hash, payers=wallets,
                              transfers=transfers + new_transfers, uses=uses + new_uses)
    return ChainScan(updated, blocks_read=max(0, head - first + 1), rescanned=rescan)
