"""Ledger-sync against the chain (§5, §11): captured payments vs USDC logs, both ways, to the micro-USDC.

Pure rules over what the ledger says (captured payments, from the one state machine) and what the
chain says (USDC `Transfer` logs out of the agents' wallets and `AuthorizationUsed` logs, read by
`genesis_payments.chain`). Each on-chain transfer is claimed by one payment at most:

- `chain_missing` (`payment_id`, `tx_hash`, `reason`) — the payment's transaction holds no USDC
  `Transfer(payer → pay_to)` (not on chain, reverted, another payer, another payee, a hash that is
  not hex, or a transfer already claimed by another payment), or its `AuthorizationUsed(payer,
  nonce)` is missing when the payment names its nonce;
- `chain_amount_mismatch` (`payment_id`, `tx_hash`, `transaction_amount_usd`, `chain_amount_usd`) —
  the transfer is there, for another amount;
- `unrecorded_transfer` (`tx_hash`, `payer`, `pay_to`, `chain_amount_usd`) — USDC left an agent's
  wallet in a transfer no captured payment claims (with the `payment_id` of an open payment whose
  authorization the transfer used, when there is one: money moved, `captured` never written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from genesis_payments.chain.logs import AuthorizationUse, UsdcTransfer
from genesis_payments.chain.receipts import is_tx_hash
from genesis_payments.core.money import format_usd, from_micro, to_micro
from genesis_payments.ledgers.payment_states import PaymentState, PaymentStates

CHAIN_KINDS = ("chain_missing", "chain_amount_mismatch", "unrecorded_transfer")


@dataclass(frozen=True)
class LedgerPayment:
    """What the ledger says one payment paid: addresses lower-case, amount in micro-USDC."""

    payment_id: str
    status: str
    tx_hash: str | None
    payer: str | None
    pay_to: str | None
    amount_micro: int
    nonce: str | None


def ledger_payments(states: PaymentStates, payer_of: Callable[[str], str | None]) -> list[LedgerPayment]:
    """Every payment's latest known fields; `payer_of(agent)` fills a payer the events do not name."""
    return [_ledger_payment(state, payer_of) for state in states.payments.values()]


def _ledger_payment(state: PaymentState, payer_of: Callable[[str], str | None]) -> LedgerPayment:
    def latest(name: str) -> Any:
        for event in reversed(state.events):
            value = getattr(event, name)
            if value is not None:
                return value
        return None

    payer = latest("payer") or payer_of(state.last_event.agent)
    pay_to = latest("pay_to")
    nonce = latest("nonce")
    return LedgerPayment(
        payment_id=state.payment_id, status=state.status, tx_hash=latest("tx_hash"),
        payer=payer.lower() if payer else None, pay_to=pay_to.lower() if pay_to else None,
        amount_micro=to_micro(state.last_event.amount_usd), nonce=nonce.lower() if nonce else None,
    )


def reconcile_chain(payments: Iterable[LedgerPayment], transfers: Iterable[UsdcTransfer],
                    uses: Iterable[AuthorizationUse],
                    receipt_status: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every chain finding between the ledger's payments and the chain's USDC logs.

    `receipt_status` (tx hash → `success`/`reverted`/`not_found`) only sharpens the reason of a
    `chain_missing`; the findings themselves come from the logs.
    """
    receipt_status = receipt_status or {}
    by_tx: dict[str, list[UsdcTransfer]] = {}
    for transfer in transfers:
        by_tx.setdefault(transfer.tx_hash.lower(), []).append(transfer)
    used = {(u.tx_hash.lower(), u.authorizer, u.nonce.lower()) for u in uses}
    used_by = {(u.authorizer, u.nonce.lower()): u.tx_hash.lower() for u in uses}
    claimed: dict[tuple[str, int], str] = {}
    findings: list[dict[str, Any]] = []
    everyone = list(payments)
    captured = sorted((p for p in everyone if p.status == "captured"), key=lambda p: p.payment_id)
    for payment in captured:
        finding = _check_captured(payment, by_tx, used, claimed, receipt_status)
        if finding is not None:
            findings.append(finding)
    open_by_authorization = {(p.payer, p.nonce): p.payment_id for p in everyone
                             if p.status != "captured" and p.payer and p.nonce}
    tx_of_open = {used_by[key]: pid for key, pid in open_by_authorization.items() if key in used_by}
    for tx_hash in sorted(by_tx):
        for transfer in by_tx[tx_hash]:
            if (tx_hash, transfer.log_index) in claimed:
                continue
            finding = {"kind": "unrecorded_transfer", "tx_hash": transfer.tx_hash, "payer": transfer.payer,
                       "pay_to": transfer.pay_to, "chain_amount_usd": format_usd(from_micro(transfer.value))}
            if tx_hash in tx_of_open:
                finding["payment_id"] = tx_of_open[tx_hash]
            findings.append(finding)
    return findings


def _check_captured(payment: LedgerPayment, by_tx: Mapping[str, list[UsdcTransfer]],
                    used: set[tuple[str, str, str]], claimed: dict[tuple[str, int], str],
                    receipt_status: Mapping[str, str]) -> dict[str, Any] | None:
    tx_hash = payment.tx_hash

    def missing(reason: str) -> dict[str, Any]:
        return {"kind": "chain_missing", "payment_id": payment.payment_id, "tx_hash": tx_hash, "reason": reason}

    if not is_tx_hash(tx_hash):
        return missing("the recorded tx_hash is not a 32-byte hex hash" if tx_hash else "no tx_hash recorded")
    assert tx_hash is not None
    key = tx_hash.lower()
    in_tx = [t for t in by_tx.get(key, []) if payment.payer is None or t.payer == payment.payer]
    if not in_tx:
        status = receipt_status.get(key)
        reasons = {"reverted": "the transaction reverted", "not_found": "the transaction is not on chain"}
        return missing(reasons.get(status or "", "the transaction holds no USDC Transfer from the payer"))
    if payment.nonce and payment.payer and (key, payment.payer, payment.nonce) not in used:
        return missing("the transaction did not use the payment's authorization (payer, nonce)")
    to_pay_to = [t for t in in_tx if payment.pay_to is None or t.pay_to == payment.pay_to]
    if not to_pay_to:
        return missing(f"the USDC went to {in_tx[0].pay_to}, not to pay_to {payment.pay_to}")
    free = [t for t in to_pay_to if (key, t.log_index) not in claimed]
    if not free:
        other = claimed[(key, to_pay_to[0].log_index)]
        return missing(f"the transfer in this transaction is already payment {other}'s")
    transfer = next((t for t in free if t.value == payment.amount_micro), free[0])
    claimed[(key, transfer.log_index)] = payment.payment_id
    if transfer.value != payment.amount_micro:
        return {"kind": "chain_amount_mismatch", "payment_id": payment.payment_id, "tx_hash": tx_hash,
                "transaction_amount_usd": format_usd(from_micro(payment.amount_micro)),
                "chain_amount_usd": format_usd(from_micro(transfer.value))}
    return None


def wallets_to_read(payments: Iterable[LedgerPayment], watched: Iterable[str]) -> list[str]:
    """Every wallet whose outgoing USDC is accounted for: the payers of payments and the watched wallets."""
    return sorted({p.payer for p in payments if p.payer} | {w.lower() for w in watched})


def unmatched_tx_hashes(payments: Iterable[LedgerPayment], transfers: Iterable[UsdcTransfer]) -> list[str]:
    """Hex tx hashes of captured payments with no USDC transfer in the logs (their receipts tell why)."""
    seen = {t.tx_hash.lower() for t in transfers}
    return sorted({p.tx_hash.lower() for p in payments
                   if p.status == "captured" and is_tx_hash(p.tx_hash) and p.tx_hash.lower() not in seen})
