"""Chain-sync benchmark: the on-chain part of ledger-sync against plain web3 receipt reads, same chain, same run.

    python benchmarks/chain_sync.py [--payments 10000] [--more 100] [--wallets 20] [--batch 500]

Starts anvil with Circle's USDC (in memory), settles `--payments` EIP-3009 payments on it (each one
`transferWithAuthorization`, signed by the payer with eth-account's EIP-712 and sent by anvil's
admin, as the SDK's facilitator sends them; mined `--batch` to a block), and writes their `captured`
events. Then, with the payment states already folded (the ledger side is not timed):

- **full**: the on-chain part of ledger-sync from no checkpoint (load checkpoint, scan every block's
  USDC logs for the wallets in bounded `eth_getLogs` ranges, reconcile, save the checkpoint),
  against fetching the same payments' receipts with `w3.eth.get_transaction_receipt`, one by one;
- **incremental**: `--more` new payments later, the same from the checkpoint, against fetching the
  new payments' receipts alone. Target: incremental at most 2x those receipts.

Both report zero findings (checked), so the comparison is of equal work's outcome.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account
from eth_account.messages import encode_typed_data

from genesis_payments.chain.rpc import connect
from genesis_payments.chain.scan import load_checkpoint, save_checkpoint, scan_chain
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.chain_reconciliation import LedgerPayment, reconcile_chain
from genesis_payments.payments.fakes.local_chain import CHAIN_ID, LocalChain, start_anvil, usdc_asset

PRICE_MICRO = 4600


def authorization(payer: Account, usdc: str, pay_to: str, value: int) -> tuple[dict, bytes]:
    asset = usdc_asset()
    message = {"from": payer.address, "to": pay_to, "value": value, "validAfter": 0,
               "validBefore": int(time.time()) + 3600, "nonce": "0x" + secrets.token_hex(32)}
    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "TransferWithAuthorization": [
                {"name": "from", "type": "address"}, {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
                {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"}],
        },
        "primaryType": "TransferWithAuthorization",
        "domain": {"name": asset["name"], "version": asset["version"], "chainId": CHAIN_ID, "verifyingContract": usdc},
        "message": message,
    }
    signed = payer.sign_message(encode_typed_data(full_message=typed))
    return message, signed.signature


def settle_many(chain: LocalChain, settings: Settings, payers: list, pay_to: str, count: int,
                batch: int) -> list[LedgerPayment]:
    """`count` settled payments, `batch` per block; their ledger view."""
    w3 = chain.w3
    token = chain.token(settings)
    admin = chain.admin
    nonce = w3.eth.get_transaction_count(admin)
    chain.set_automine(False)
    payments, pending = [], 0
    try:
        for i in range(count):
            payer = payers[i % len(payers)]
            message, signature = authorization(payer, chain.usdc, pay_to, PRICE_MICRO)
            data = token.encode_abi("transferWithAuthorization", args=[
                message["from"], message["to"], message["value"], message["validAfter"], message["validBefore"],
                bytes.fromhex(message["nonce"][2:]), signature])
            # Sent by the admin's unlocked anvil account (anvil signs), as the facilitator's would be.
            tx = {"from": admin, "to": token.address, "data": data, "nonce": nonce, "gas": 120_000,
                  "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 0}
            tx_hash = "0x" + bytes(w3.eth.send_transaction(tx)).hex()
            nonce += 1
            pending += 1
            payments.append(LedgerPayment(f"pay_{i:06d}", "captured", tx_hash, payer.address.lower(),
                                          pay_to.lower(), PRICE_MICRO, message["nonce"]))
            if pending == batch:
                _mine_all(chain, admin, nonce)
                pending = 0
        _mine_all(chain, admin, nonce)
    finally:
        chain.set_automine(True)
    return payments


def _mine_all(chain: LocalChain, sender: str, next_nonce: int) -> None:
    """Mine until every transaction sent is in a block (a block holds only its gas limit's worth)."""
    while chain.w3.eth.get_transaction_count(sender, "latest") < next_nonce:
        chain.mine()


def on_chain_part(settings: Settings, chain: LocalChain, payments: list[LedgerPayment],
                  wallets: list[str], checkpoint_path: Path) -> tuple[float, int, int]:
    """The on-chain part of ledger-sync as the flow runs it; (seconds, findings, blocks read)."""
    started = time.perf_counter()
    w3 = connect(chain.rpc_url)
    scan = scan_chain(w3, chain.usdc, wallets, load_checkpoint(checkpoint_path))
    findings = reconcile_chain(payments, scan.transfers, scan.uses)
    save_checkpoint(checkpoint_path, scan.checkpoint)
    return time.perf_counter() - started, len(findings), scan.blocks_read


def receipts(chain: LocalChain, tx_hashes: list[str]) -> float:
    started = time.perf_counter()
    w3 = connect(chain.rpc_url)
    for tx_hash in tx_hashes:
        receipt = w3.eth.get_transaction_receipt(tx_hash)
        assert receipt["status"] == 1 and len(receipt["logs"]) == 2
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--more", type=int, default=100)
    parser.add_argument("--wallets", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="incremental runs (median reported)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="genesis-chain-bench-"))
    os.environ["GENESIS_ROOT"] = str(root)
    settings = Settings()
    chain = start_anvil(settings, state_file=None)
    try:
        payers = [Account.create() for _ in range(args.wallets)]
        for payer in payers:
            chain.mint(settings, payer.address, PRICE_MICRO * (args.payments + args.more * (args.repeat + 1)))
        pay_to = Account.create().address
        wallets = [p.address.lower() for p in payers]
        started = time.perf_counter()
        payments = settle_many(chain, settings, payers, pay_to, args.payments, args.batch)
        made = time.perf_counter() - started
        print(f"chain: {args.payments:,} settled payments in {made:.1f} s ({args.payments / made:,.0f}/s), "
              f"head block {chain.w3.eth.block_number}")
        checkpoint = settings.state_dir / "ledger-sync-chain.json"

        full_receipts = receipts(chain, [p.tx_hash for p in payments])
        full, found, blocks = on_chain_part(settings, chain, payments, wallets, checkpoint)
        assert found == 0, f"{found} findings on a clean chain"
        print(f"full:        ledger-sync on-chain part {full:7.3f} s ({blocks} blocks)   "
              f"vs {len(payments):,} receipts by web3 {full_receipts:7.3f} s   ratio {full / full_receipts:.2f}x")

        ratios, times, baselines = [], [], []
        for _ in range(args.repeat):
            more = settle_many(chain, settings, payers, pay_to, args.more, args.batch)
            payments += more
            baseline = receipts(chain, [p.tx_hash for p in more])
            incremental, found, blocks = on_chain_part(settings, chain, payments, wallets, checkpoint)
            assert found == 0, f"{found} findings on a clean chain"
            ratios.append(incremental / baseline)
            times.append(incremental)
            baselines.append(baseline)
        ratio = statistics.median(ratios)
        print(f"incremental: +{args.more} payments, median of {args.repeat}: on-chain part "
              f"{statistics.median(times):7.3f} s ({blocks} blocks) vs their {args.more} receipts by web3 "
              f"{statistics.median(baselines):7.3f} s   ratio {ratio:.2f}x (target <= 2x): "
              f"{'met' if ratio <= 2 else 'NOT met'}")
    finally:
        chain.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
