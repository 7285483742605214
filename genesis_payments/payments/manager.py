"""`PaymentManager`: staged payments over x402 (§9) — authorize, capture, cancel, pay.

authorize  approved intent → requirements from the vendor cache → SDK-signed EIP-3009 payload
           (stored 0600, never logged) → `/verify` → event `authorized` with `valid_before`.
capture    `/settle` of the stored payload, once → `captured` + one finance debit, or
           `settlement_pending` (broadcast, not final; a later capture re-settles the SAME payload,
           never a new signature), or `failed` with the x402 reason.
cancel     → `cancelled` (the approvals helper releases the budget on it); refused after capture.

Idempotency: one idempotency key → one payment (the key travels as the x402 `payment-identifier`,
so the facilitator deduplicates a settle whose answer was lost). A timeout or 5xx changes nothing
locally: the same call may simply be retried and ends with one charge.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict
from x402.schemas import PaymentPayload, PaymentRequirements, SettleResponse

from genesis_payments.core.money import format_usd, parse_usd, to_micro
from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, parse_utc, utc_now
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments.errors import (
    AuthorizationRejected,
    IdempotencyConflict,
    NotApproved,
    PaymentNotFound,
    PaymentRefused,
    SettlementFailed,
    VendorNotSupported,
)
from genesis_payments.payments.facilitator_client import FacilitatorClient
from genesis_payments.payments.signing import build_requirements, payer_account, payment_identifier_for, sign_payment
from genesis_payments.payments.store import AuthorizationStore
from genesis_payments.payments.vendor_cache import VendorCapabilityCache

log = logging.getLogger(__name__)

SETTLEMENT_PENDING = "settlement_pending"
NONCE_USED = "invalid_exact_evm_nonce_already_used"
FINAL = frozenset({"captured", "cancelled", "expired", "failed"})
# Public view of a stored payment: everything except the signed payload and requirements.
_PRIVATE_FIELDS = frozenset({"payload", "requirements"})


class StagedPayment(BaseModel):
    """A staged payment as callers see it (never the signed authorization)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    payment_id: str
    status: str
    amount_usd: Decimal
    valid_before: datetime
    intent_id: str
    idempotency_key: str
    agent: str
    vendor: str
    chain: str
    token: str
    business_id: str | None = None
    tx_hash: str | None = None
    error: str | None = None
    payer: str | None = None


def _view(record: Mapping[str, Any]) -> StagedPayment:
    data = {k: v for k, v in record.items() if k not in _PRIVATE_FIELDS}
    data["amount_usd"] = parse_usd(str(record["amount_usd"]))
    data["valid_before"] = parse_utc(record["valid_before"])
    return StagedPayment.model_validate(data)


def default_facilitator(settings: Settings) -> FacilitatorClient:
    """Live: `facilitator_url`. Fake: `fake_facilitator_url` (loopback) when set, else in process."""
    timeout = settings.http_timeout_seconds
    if not settings.use_fake:
        settings.require_ready()
        return FacilitatorClient(str(settings.facilitator_url), timeout_seconds=timeout)
    if settings.fake_facilitator_url:
        return FacilitatorClient(settings.fake_facilitator_url, timeout_seconds=timeout)
    from genesis_payments.payments.fakes.facilitator import facilitator_transport, local_facilitator

    transport: httpx.BaseTransport = facilitator_transport(local_facilitator(settings))
    return FacilitatorClient("http://fake-facilitator.invalid", timeout_seconds=timeout, transport=transport)


class PaymentManager:
    def __init__(
        self,
        settings: Settings,
        *,
        facilitator: FacilitatorClient | None = None,
        approvals: ApprovalLog | None = None,
        vendors: VendorCapabilityCache | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`clock` stamps the ledgers (the demo replays past weeks with it); signature windows
        and expiry always use the real time, because the facilitator checks them against it."""
        self.settings = settings
        self._clock = clock
        self._facilitator = facilitator
        self.approvals = approvals if approvals is not None else ApprovalLog(settings)
        self.vendors = vendors if vendors is not None else VendorCapabilityCache(settings)
        self.store = AuthorizationStore(settings)
        self.monitor = BusinessMonitor(settings)
        self.ledger = FinanceLedger(settings)

    @property
    def facilitator(self) -> FacilitatorClient:
        # Built on first use, so reading payments needs no facilitator (nor live settings).
        if self._facilitator is None:
            self._facilitator = default_facilitator(self.settings)
        return self._facilitator

    # --- reading -----------------------------------------------------------------------------

    def get(self, payment_id: str) -> StagedPayment:
        return _view(self._load(payment_id))

    def list(self, status: str | None = None) -> list[StagedPayment]:
        views = [_view(r) for r in self.store.all()]
        return [v for v in views if status is None or v.status == status]

    # --- authorize ---------------------------------------------------------------------------

    def authorize(self, intent: PaymentIntent, idempotency_key: str) -> StagedPayment:
        """Sign and verify a payment for an approved intent; the same key returns the same payment."""
        if not idempotency_key or not idempotency_key.strip():
            raise PaymentRefused("an idempotency key is required to authorize a payment")
        with self.store.locked():
            existing_id = self.store.payment_for_key(idempotency_key)
            if existing_id is not None:
                record = self._load(existing_id)
                if record["intent_id"] != intent.intent_id:
                    raise IdempotencyConflict(
                        f"idempotency key {idempotency_key!r} belongs to payment {existing_id} of intent "
                        f"{record['intent_id']!r}, not {intent.intent_id!r}; use a new key"
                    )
                if record["status"] == "rejected":
                    raise AuthorizationRejected(
                        f"payment {existing_id} for key {idempotency_key!r} was refused by the facilitator: "
                        f"{record.get('error')}; use a new key to try again",
                        record.get("error"),
                    )
                if record["status"] != "signed":
                    return _view(record)
                # Signed before but /verify never answered: verify the SAME payload again.
                return self._verify_and_record(record)
            self._require_approval(intent)
            record = self._new_authorization(intent, idempotency_key)
            self.store.save(record)
            self.store.remember_key(idempotency_key, record["payment_id"])
            return self._verify_and_record(record)

    def _require_approval(self, intent: PaymentIntent) -> None:
        decision = self.approvals.latest_decision(intent.intent_id)
        if decision is None:
            raise NotApproved(f"intent {intent.intent_id!r} has no approval decision; approve it before paying")
        if decision.decision != "approved":
            raise NotApproved(f"intent {intent.intent_id!r} is {decision.decision!r} (decision {decision.decision_id})")
        if decision.cost_usd < intent.cost_usd:
            raise NotApproved(
                f"intent {intent.intent_id!r} was approved for {format_usd(decision.cost_usd)} USDC, "
                f"not {format_usd(intent.cost_usd)}"
            )
        if (decision.agent, decision.vendor) != (intent.agent, intent.vendor):
            raise NotApproved(
                f"intent {intent.intent_id!r} was approved for agent {decision.agent!r} and vendor "
                f"{decision.vendor!r}, not {intent.agent!r} and {intent.vendor!r}"
            )

    def _new_authorization(self, intent: PaymentIntent, idempotency_key: str) -> dict[str, Any]:
        caps = self.vendors.get(intent.vendor)
        if caps is None:
            reason = self.vendors.last_error or "unknown vendor"
            raise VendorNotSupported(f"vendor {intent.vendor!r} is not in the vendor cache: {reason}")
        chain = intent.chain or caps.chains[0]
        token = intent.token or caps.tokens[0]
        if not self.vendors.supports(intent.vendor, chain, token):
            raise VendorNotSupported(
                f"vendor {intent.vendor!r} does not take {token} on {chain} (it takes {caps.tokens} on {caps.chains})"
            )
        terms = self.vendors.network_terms(caps, chain)
        ttl = self.settings.authorization_ttl_seconds
        ttl = min(ttl, int((caps.model_extra or {}).get("max_timeout_seconds") or ttl))
        requirements = build_requirements(caps, chain, terms, to_micro(intent.cost_usd), ttl)
        payment_id = "pay_" + uuid.uuid4().hex
        payload = sign_payment(
            payer_account(self.settings, intent.agent),
            requirements,
            payment_identifier_for(idempotency_key),
            resource_url=f"genesis://payments/{payment_id}",
        )
        valid_before = datetime.fromtimestamp(int(payload.payload["authorization"]["validBefore"]), UTC)
        return {
            "payment_id": payment_id,
            "status": "signed",
            "idempotency_key": idempotency_key,
            "payment_identifier": payment_identifier_for(idempotency_key),
            "intent_id": intent.intent_id,
            "business_id": intent.business_id,
            "agent": intent.agent,
            "vendor": intent.vendor,
            "component": intent.component,
            "chain": chain,
            "token": token,
            "amount_usd": format_usd(intent.cost_usd),
            "valid_before": format_utc(valid_before),
            "payer": payload.payload["authorization"]["from"],
            "created_at": format_utc(self._clock()),
            "settle_attempts": 0,
            "payload": payload.model_dump(by_alias=True, exclude_none=True, mode="json"),
            "requirements": payload.accepted.model_dump(by_alias=True, exclude_none=True, mode="json"),
        }

    def _verify_and_record(self, record: dict[str, Any]) -> StagedPayment:
        payload, requirements = _signed(record)
        result = self.facilitator.verify(payload, requirements)  # FacilitatorUnavailable: retry the same key
        if not result.is_valid:
            # Never authorized, so no payment event: the payment simply does not exist.
            record["status"] = "rejected"
            record["error"] = result.invalid_reason
            _scrub(record)
            self.store.save(record)
            raise AuthorizationRejected(
                f"facilitator refused payment {record['payment_id']} for intent {record['intent_id']!r}: "
                f"{result.invalid_reason}" + (f" ({result.invalid_message})" if result.invalid_message else ""),
                result.invalid_reason,
            )
        record["status"] = "authorized"
        record["authorized_at"] = format_utc(self._clock())
        self.store.save(record)
        self._log(record, "authorized")
        return _view(record)

    # --- capture -----------------------------------------------------------------------------

    def capture(self, payment_id: str, amount: Decimal | str | None = None) -> StagedPayment:
        """Settle the authorized payment once; a repeat of a finished capture returns its result."""
        with self.store.locked():
            record = self._load(payment_id)
            status = record["status"]
            authorized = parse_usd(str(record["amount_usd"]))
            wanted = parse_usd(amount) if amount is not None else authorized
            if status == "captured":
                if wanted != authorized:
                    raise PaymentRefused(
                        f"payment {payment_id} was already captured for {format_usd(authorized)} USDC; "
                        f"a second capture of {format_usd(wanted)} is refused"
                    )
                return _view(record)
            if status not in ("authorized", SETTLEMENT_PENDING):
                raise PaymentRefused(f"payment {payment_id} is {status}; only an authorized payment can be captured")
            if wanted > authorized:
                raise PaymentRefused(
                    f"payment {payment_id}: capture of {format_usd(wanted)} USDC is more than the "
                    f"{format_usd(authorized)} authorized"
                )
            if wanted != authorized:
                raise PaymentRefused(
                    f"payment {payment_id}: the x402 exact scheme settles exactly the signed "
                    f"{format_usd(authorized)} USDC; a partial capture of {format_usd(wanted)} is not possible"
                )
            if status == "authorized" and utc_now() >= parse_utc(record["valid_before"]):
                raise PaymentRefused(
                    f"payment {payment_id} expired at {record['valid_before']}; its authorization can no longer "
                    "settle (the stale-payments job reports it)"
                )
            return self._settle_and_record(record)

    def _settle_and_record(self, record: dict[str, Any]) -> StagedPayment:
        payload, requirements = _signed(record)
        retried = int(record.get("settle_attempts", 0)) > 0
        record["settle_attempts"] = int(record.get("settle_attempts", 0)) + 1
        self.store.save(record)  # before the call: a lost answer must be known on the retry
        result = self.facilitator.settle(payload, requirements)  # FacilitatorUnavailable: retry capture
        if result.success:
            return self._record_capture(record, result)
        if result.error_reason == SETTLEMENT_PENDING or (retried and result.error_reason == NONCE_USED):
            # Broadcast but not final (or an earlier attempt's broadcast consumed the nonce):
            # keep the same payload for the next capture; never sign again.
            record["tx_hash"] = result.transaction or record.get("tx_hash")
            record["error"] = result.error_reason
            if record["status"] != SETTLEMENT_PENDING:
                record["status"] = SETTLEMENT_PENDING
                self.store.save(record)
                self._log(record, SETTLEMENT_PENDING, error=result.error_reason)
            else:
                self.store.save(record)
            return _view(record)
        record["status"] = "failed"
        record["error"] = result.error_reason or "settle failed"
        _scrub(record)
        self.store.save(record)
        self._log(record, "failed", error=record["error"])
        raise SettlementFailed(
            f"settle of payment {record['payment_id']} failed: {record['error']}"
            + (f" ({result.error_message})" if result.error_message else ""),
            result.error_reason,
        )

    def _record_capture(self, record: dict[str, Any], result: SettleResponse) -> StagedPayment:
        record["status"] = "captured"
        record["tx_hash"] = result.transaction
        record["captured_at"] = format_utc(self._clock())
        record.pop("error", None)
        _scrub(record)
        self.store.save(record)
        self._log(record, "captured")
        if not record.get("debited"):
            self.ledger.record(
                {
                    "payment_id": record["payment_id"],
                    "agent": record["agent"],
                    "vendor": record["vendor"],
                    "amount_usd": record["amount_usd"],
                    "kind": "debit",
                    "ts": format_utc(self._clock()),
                    "tx_hash": result.transaction,
                    "business_id": record.get("business_id"),
                }
            )
            record["debited"] = True
            self.store.save(record)
        return _view(record)

    # --- cancel / pay ------------------------------------------------------------------------

    def cancel(self, payment_id: str) -> StagedPayment:
        """Void an authorized payment: its stored authorization is destroyed and `cancelled` logged."""
        with self.store.locked():
            record = self._load(payment_id)
            status = record["status"]
            if status == "cancelled":
                return _view(record)
            if status != "authorized":
                raise PaymentRefused(f"payment {payment_id} is {status}; only an authorized payment can be cancelled")
            if int(record.get("settle_attempts", 0)) > 0:
                # A settle whose answer was lost may have moved the money: learn the outcome first.
                raise PaymentRefused(
                    f"payment {payment_id} had a settle attempt whose outcome is unknown; "
                    "run capture again to learn it before cancelling"
                )
            record["status"] = "cancelled"
            record["cancelled_at"] = format_utc(self._clock())
            _scrub(record)
            self.store.save(record)
            self._log(record, "cancelled")
            return _view(record)

    def expire_overdue(self) -> list[StagedPayment]:
        """Record `expired` for every authorized payment past `valid_before` (it can never settle now);
        the approvals helper releases the budget on that event."""
        expired = []
        with self.store.locked():
            now = utc_now()
            for record in self.store.all():
                if record["status"] != "authorized" or now < parse_utc(record["valid_before"]):
                    continue
                if int(record.get("settle_attempts", 0)) > 0:
                    continue  # a lost settle answer may have moved money: capture must learn it first
                record["status"] = "expired"
                _scrub(record)
                self.store.save(record)
                self._log(record, "expired")
                expired.append(_view(record))
        return expired

    def pay(self, intent: PaymentIntent, idempotency_key: str) -> StagedPayment:
        """One-shot purchase: authorize, then capture."""
        payment = self.authorize(intent, idempotency_key)
        return self.capture(payment.payment_id)

    # --- helpers -----------------------------------------------------------------------------

    def _load(self, payment_id: str) -> dict[str, Any]:
        record = self.store.load(payment_id)
        if record is None:
            raise PaymentNotFound(f"no staged payment {payment_id!r} under {self.store.dir}")
        return record

    def _log(self, record: Mapping[str, Any], status: str, *, error: str | None = None) -> None:
        event = {
            "ts": format_utc(self._clock()),
            "payment_id": record["payment_id"],
            "status": status,
            "agent": record["agent"],
            "vendor": record["vendor"],
            "chain": record["chain"],
            "token": record["token"],
            "amount_usd": record["amount_usd"],
            "business_id": record.get("business_id"),
            "intent_id": record["intent_id"],
            "idempotency_key": record["idempotency_key"],
            "valid_before": record["valid_before"],
            "tx_hash": record.get("tx_hash"),
            "error": error,
        }
        self.monitor.log_payment({k: v for k, v in event.items() if v is not None})
        log.info("payment %s %s (%s USDC, %s)", record["payment_id"], status, record["amount_usd"], record["vendor"])


def _signed(record: Mapping[str, Any]) -> tuple[PaymentPayload, PaymentRequirements]:
    if "payload" not in record or "requirements" not in record:
        raise PaymentRefused(f"payment {record['payment_id']} has no stored authorization any more")
    return (
        PaymentPayload.model_validate(_ints(record["payload"])),
        PaymentRequirements.model_validate(_ints(record["requirements"])),
    )


def _scrub(record: dict[str, Any]) -> None:
    """Destroy the bearer authorization once no capture can need it."""
    for name in _PRIVATE_FIELDS:
        record.pop(name, None)


def _ints(value: Any) -> Any:
    # Stored JSON is read with Decimal numbers; the SDK models want ints (maxTimeoutSeconds).
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, Decimal):
        return int(value)
    return value
