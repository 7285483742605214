"""`PaymentManager`: the agent as an x402 buyer (§9) — quote, authorize, capture, cancel, pay.

In x402 the seller settles. The buyer asks for a resource, reads the 402 challenge, signs one
offer with the SDK's client scheme, and asks again with the signed payload; the seller's
facilitator settles it and the seller answers with the resource and a `PAYMENT-RESPONSE`.

quote      the 402: the offer the settings allow, priced with its asset's own decimals.
authorize  an approved intent, at most one live or captured payment per approval; the live price
           may not exceed the approved amount; signed once, stored 0600, `authorized` logged.
capture    `settlement_pending` is logged BEFORE the paid request (money may move from then on),
           then the paid request; a successful `PAYMENT-RESPONSE` → `captured` + one debit; a 402
           that proves nothing moved → `failed`; anything unknown (timeout, 5xx, lost answer,
           `settlement_pending`) stays `settlement_pending`, and the next capture re-sends the SAME
           payload. A second signature for one payment never exists.
cancel     before any paid request: the payload is destroyed and `cancelled` logged.

Every ledger line is announced in the payment's private record before it is appended
(`unlogged`), so a crash or an I/O error between the two is completed by the next call on that
payment, exactly once: money moved ⇔ one `captured` event ⇔ one debit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict
from x402.http.constants import (
    PAYMENT_RESPONSE_HEADER,
    PAYMENT_SIGNATURE_HEADER,
    X_PAYMENT_HEADER,
    X_PAYMENT_RESPONSE_HEADER,
)
from x402.http.utils import decode_payment_response_header, encode_payment_signature_header
from x402.schemas import PaymentPayload, SettleResponse
from x402.schemas.v1 import PaymentPayloadV1

from genesis_payments.approvals.halts import active_halt
from genesis_payments.core.money import format_usd, parse_usd
from genesis_payments.core.records import ApprovalDecision, PaymentIntent
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, parse_utc, utc_now
from genesis_payments.ledgers.approval_log import ApprovalLog, open_approval_log
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.ledgers.payment_states import PaymentState, fold_events
from genesis_payments.payments.chain_endpoint import RpcChainView
from genesis_payments.payments.challenge import Challenge, Offer, best_offer, read_challenge
from genesis_payments.payments.errors import (
    ChallengeError,
    NotApproved,
    PaymentNotFound,
    PaymentRefused,
    SettlementFailed,
    SettlementPending,
    approval_already_paid,
    key_in_use,
)
from genesis_payments.payments.signing import payer_account, payment_identifier_for, sign_offer
from genesis_payments.payments.store import AuthorizationStore
from genesis_payments.payments.vendor_cache import VendorCapabilityCache
from genesis_payments.payments.vendors import VendorDirectory

log = logging.getLogger(__name__)

PENDING = "settlement_pending"
LIVE = frozenset({"authorized", PENDING})
# Reasons a seller gives that mean this payload's nonce is spent: money moved (ours, earlier).
NONCE_SPENT = frozenset({"invalid_exact_evm_nonce_already_used", "invalid_transaction_state"})
_PRIVATE_FIELDS = ("payload",)


class ChainView(Protocol):
    """What the buyer asks the chain: the transaction that used (payer, nonce) on `asset`, if any."""

    def settlement_of(self, network: str, asset: str, payer: str, nonce: str) -> str | None: ...


HaltCheck = Callable[[str, str], str | None]
"""(agent, vendor) → the reason of a halt in force over that scope, or None."""


class StagedPayment(BaseModel):
    """A payment as callers see it (never the signed authorization)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    payment_id: str
    status: str
    amount_usd: Decimal
    intent_id: str | None = None
    idempotency_key: str | None = None
    agent: str
    vendor: str
    chain: str
    token: str
    valid_before: datetime | None = None
    business_id: str | None = None
    tx_hash: str | None = None
    error: str | None = None
    payer: str | None = None
    pay_to: str | None = None
    asset: str | None = None
    resource_url: str | None = None


@dataclass(frozen=True)
class Quote:
    """What a seller asks for a resource: its payable offer, or nothing when it is free."""

    url: str
    method: str
    vendor: str
    challenge: Challenge | None
    offer: Offer | None

    @property
    def amount_usd(self) -> Decimal:
        return self.offer.amount_usd if self.offer is not None else Decimal(0)


@dataclass(frozen=True)
class Purchase:
    """A capture's outcome: the payment and, when the seller answered, what it answered."""

    payment: StagedPayment
    status_code: int | None = None
    headers: Mapping[str, str] | None = None
    body: bytes | None = None
    settlement: SettleResponse | None = None


def _view(record: Mapping[str, Any]) -> StagedPayment:
    data = {k: v for k, v in record.items() if k not in _PRIVATE_FIELDS}
    data["amount_usd"] = parse_usd(str(record["amount_usd"]))
    if record.get("valid_before"):
        data["valid_before"] = parse_utc(record["valid_before"])
    return StagedPayment.model_validate(data)


def _state_view(state: PaymentState) -> StagedPayment:
    first, last = state.events[0], state.last_event
    data = {**first.to_json_dict(), **{k: v for k, v in last.to_json_dict().items() if v is not None}}
    data["status"] = state.status
    return _view(data)


class PaymentManager:
    def __init__(
        self,
        settings: Settings,
        *,
        approvals: ApprovalLog | None = None,
        vendors: VendorCapabilityCache | None = None,
        directory: VendorDirectory | None = None,
        http: httpx.Client | None = None,
        chain: ChainView | None = None,
        halted: HaltCheck | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`clock` stamps the ledgers (the demo replays past weeks with it); signature windows
        and expiry always use the real time, because the seller's facilitator checks them."""
        self.settings = settings
        self._clock = clock
        self.approvals = approvals if approvals is not None else open_approval_log(settings)
        self.vendors = vendors if vendors is not None else VendorCapabilityCache(settings)
        self.directory = directory if directory is not None else VendorDirectory(settings)
        self.http = http if http is not None else httpx.Client(
            timeout=httpx.Timeout(settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds)),
            follow_redirects=False,  # a payment header never follows a redirect to another origin
        )
        # Which transaction used a payment's nonce settles every unknown outcome (§9, §11).
        self.chain: ChainView | None = chain if chain is not None else RpcChainView(settings)
        self.halted: HaltCheck = halted or self._halt_in_force
        self.store = AuthorizationStore(settings)
        self.monitor = BusinessMonitor(settings)
        self.ledger = FinanceLedger(settings)

    def _halt_in_force(self, agent: str, vendor: str) -> str | None:
        """The kill switch of §8: a halt over this agent or vendor refuses new payments and captures."""
        found = active_halt(self.settings, agent=agent, vendor=vendor)
        return found.describe() if found is not None else None

    # --- reading: the ledger is the truth --------------------------------------------------

    def get(self, payment_id: str) -> StagedPayment:
        state = fold_events(self.monitor.read_events().records).get(payment_id)
        if state is None:
            raise PaymentNotFound(f"no payment {payment_id!r} in {self.monitor.where}")
        return _state_view(state)

    def list(self, status: str | None = None) -> list[StagedPayment]:
        states = fold_events(self.monitor.read_events().records)
        views = [_state_view(state) for state in states.payments.values()]
        return [v for v in views if status is None or v.status == status]

    # --- quote -------------------------------------------------------------------------------

    def quote(self, url: str, method: str = "GET", *, vendor: str | None = None) -> Quote:
        """Ask the seller what `url` costs; the cheapest offer the settings allow, or free."""
        found = self.directory.vendor_for(url)
        if vendor is not None and found != vendor:
            raise PaymentRefused(f"{redact(url)} belongs to vendor {found!r}, not {vendor!r}")
        try:
            response = self.http.request(method, url)
        except httpx.HTTPError as exc:
            raise ChallengeError(f"{redact(url)}: request failed ({type(exc).__name__})") from None
        if response.is_redirect:
            raise ChallengeError(f"{redact(url)} redirected to {redact(response.headers.get('location', '?'))}; "
                                 "redirects are not followed")
        if response.is_success:
            return Quote(url, method, found, None, None)
        if response.status_code != 402:
            raise ChallengeError(f"{redact(url)} answered HTTP {response.status_code}, neither a resource nor 402")
        challenge = read_challenge(response)
        offer = best_offer(challenge, self.settings.networks, self.settings.extra_assets)
        self.directory.check_pay_to(found, offer.pay_to)
        self.vendors.learn(found, url, offer)
        return Quote(url, method, found, challenge, offer)

    # --- authorize ---------------------------------------------------------------------------

    def authorize(self, intent: PaymentIntent, idempotency_key: str, quote: Quote | None = None, *,
                  url: str | None = None) -> StagedPayment:
        """Sign a payment for an approved intent; the same key returns the same payment."""
        if not idempotency_key or not idempotency_key.strip():
            raise PaymentRefused("an idempotency key is required to authorize a payment")
        with self.store.locked(f"intent:{intent.intent_id}"):
            existing = self.store.payment_for_key(idempotency_key)
            if existing is not None:
                record = self._load(existing)
                if record["intent_id"] != intent.intent_id:
                    raise key_in_use(idempotency_key, existing, record["intent_id"], intent.intent_id)
                return _view(record)
            self._require_one_payment(intent.intent_id)
            decision = self._require_approval(intent)
            self._require_not_halted(intent.agent, intent.vendor)
            quote = quote or self.quote(url or self._seller_url(intent.vendor), vendor=intent.vendor)
            offer = self._require_payable(intent, decision, quote)
            record = self._sign(intent, idempotency_key, decision, quote, offer)
            self.store.save(record)
            self.store.register(record)
            self._log(record, "authorized")
            self.store.save(record)
            return _view(record)

    def _seller_url(self, vendor: str) -> str:
        url = self.directory.url_of(vendor)
        if url is None:
            raise PaymentRefused(f"vendor {vendor!r} has no seller URL; pass the resource URL")
        return url

    def _require_one_payment(self, intent_id: str) -> None:
        for payment_id in self.store.payments_of_intent(intent_id):
            record = self._load(payment_id)
            if record["status"] in LIVE or record["status"] == "captured":
                raise approval_already_paid(intent_id, payment_id, record["status"])

    def _require_approval(self, intent: PaymentIntent) -> ApprovalDecision:
        decision = self.approvals.latest_decision(intent.intent_id)
        if decision is None:
            raise NotApproved(f"intent {intent.intent_id!r} has no approval decision; approve it before paying")
        if decision.decision != "approved":
            raise NotApproved(f"intent {intent.intent_id!r} is {decision.decision!r} (decision {decision.decision_id})")
        approved = (decision.agent, decision.vendor, decision.business_id)
        asked = (intent.agent, intent.vendor, intent.business_id)
        if approved != asked:
            raise NotApproved(
                f"intent {intent.intent_id!r} was approved for agent {decision.agent!r}, vendor {decision.vendor!r} "
                f"and business {decision.business_id!r}, not {intent.agent!r}, {intent.vendor!r} and "
                f"{intent.business_id!r}")
        return decision

    def _require_not_halted(self, agent: str, vendor: str) -> None:
        reason = self.halted(agent, vendor)
        if reason is not None:
            raise PaymentRefused(f"payments of agent {agent!r} to vendor {vendor!r} are halted: {reason}")

    @staticmethod
    def _require_payable(intent: PaymentIntent, decision: ApprovalDecision, quote: Quote) -> Offer:
        if quote.vendor != intent.vendor:
            raise NotApproved(f"the quote is from vendor {quote.vendor!r}; intent {intent.intent_id!r} "
                              f"was approved for {intent.vendor!r}")
        if quote.offer is None:
            raise PaymentRefused(f"{redact(quote.url)} asks for no payment; there is nothing to authorize")
        if quote.offer.amount_usd > decision.cost_usd:
            raise NotApproved(
                f"{redact(quote.url)} asks {format_usd(quote.offer.amount_usd)} USDC but intent "
                f"{intent.intent_id!r} was approved for {format_usd(decision.cost_usd)}; approve the new price first")
        return quote.offer

    def _sign(self, intent: PaymentIntent, idempotency_key: str, decision: ApprovalDecision, quote: Quote,
              offer: Offer) -> dict[str, Any]:
        assert quote.challenge is not None
        identifier = payment_identifier_for(idempotency_key)
        cap = int(decision.cost_usd.scaleb(offer.asset.decimals))
        payload = sign_offer(payer_account(self.settings, intent.agent), quote.challenge, offer, identifier, cap)
        authorization = payload.payload["authorization"]
        return {
            "payment_id": "pay_" + uuid.uuid4().hex,
            "status": "signed",
            "idempotency_key": idempotency_key,
            "payment_identifier": identifier,
            "intent_id": intent.intent_id,
            "business_id": intent.business_id,
            "agent": intent.agent,
            "vendor": intent.vendor,
            "component": intent.component,
            "chain": offer.network,
            "token": offer.asset.symbol,
            "asset": offer.asset.address,
            "decimals": offer.asset.decimals,
            "amount_usd": format_usd(offer.amount_usd),
            "amount_atomic": str(offer.amount_atomic),
            "pay_to": offer.pay_to,
            "payer": authorization["from"],
            "nonce": authorization["nonce"],
            "valid_before": format_utc(datetime.fromtimestamp(int(authorization["validBefore"]), UTC)),
            "decision_hash": decision.hash,
            "resource_url": quote.url,
            "method": quote.method,
            "x402_version": offer.version,
            "created_at": format_utc(self._clock()),
            "attempts": 0,
            "unlogged": [],
            "payload": payload.model_dump(by_alias=True, exclude_none=True, mode="json"),
        }

    # --- capture -----------------------------------------------------------------------------

    def capture(self, payment_id: str) -> Purchase:
        """Send the paid request (again, with the same payload while the outcome is unknown)."""
        with self.store.locked(f"payment:{payment_id}"):
            record = self._load(payment_id)
            status = record["status"]
            if status == "captured":
                return Purchase(_view(record))
            if status not in LIVE:
                raise PaymentRefused(f"payment {payment_id} is {status}; only an authorized payment can be captured")
            self._require_not_halted(record["agent"], record["vendor"])
            now = utc_now()
            if now >= parse_utc(record["valid_before"]):
                return Purchase(self._resolve_overdue(record))
            if status == "authorized":
                self._log(record, PENDING, error="paid request sent; awaiting the seller's settlement")
            record["attempts"] = int(record.get("attempts", 0)) + 1
            self.store.save(record)  # written ahead: from here on money may move
            return self._send(record)

    def _send(self, record: dict[str, Any]) -> Purchase:
        payload = _payload(record)
        header = PAYMENT_SIGNATURE_HEADER if payload.x402_version == 2 else X_PAYMENT_HEADER
        try:
            response = self.http.request(record.get("method", "GET"), record["resource_url"],
                                         headers={header: encode_payment_signature_header(payload)})
        except httpx.HTTPError as exc:
            return self._still_pending(record, f"no answer from the seller ({type(exc).__name__})")
        settlement = _settlement(response)
        code = response.status_code
        if response.is_success:
            if settlement is not None and settlement.success:
                return self._captured(record, settlement.transaction, settlement.payer, response, settlement)
            return self._still_pending(record, f"the seller answered {code} without a successful PAYMENT-RESPONSE",
                                       response)
        if response.is_redirect:
            return self._still_pending(record, f"the seller redirected to "
                                               f"{redact(response.headers.get('location', '?'))}; not followed")
        if code >= 500:
            return self._still_pending(record, f"the seller answered HTTP {code}")
        reason = _reason(response, settlement)
        if reason == PENDING:
            return self._still_pending(record, "the seller's settlement is not final yet (settlement_pending)",
                                       response, reason)
        # A refusal proves nothing moved only if the chain agrees: the nonce may have been spent by an
        # earlier attempt of ours, or by someone holding this bearer payload.
        known, tx = self._chain_settlement(record)
        if tx is not None:
            return self._captured(record, tx, record.get("payer"), response, settlement)
        if not known or reason in NONCE_SPENT:
            return self._still_pending(record, f"the seller says {reason or f'HTTP {code}'}; only the chain can "
                                               "tell whether the authorization was used", response, reason)
        return self._failed(record, reason or f"HTTP {code}")

    def _captured(self, record: dict[str, Any], tx_hash: str, payer: str | None, response: httpx.Response | None,
                  settlement: SettleResponse | None) -> Purchase:
        record["tx_hash"] = tx_hash
        record["payer"] = payer or record.get("payer")
        record.pop("error", None)
        _scrub(record)
        record["debit"] = {
            "entry_id": uuid.uuid4().hex,
            "ts": format_utc(self._clock()),
            "payment_id": record["payment_id"],
            "agent": record["agent"],
            "vendor": record["vendor"],
            "amount_usd": record["amount_usd"],
            "kind": "debit",
            "tx_hash": tx_hash,
            "business_id": record.get("business_id"),
        }
        record["debited"] = False
        self._log(record, "captured")
        self._debit(record)
        self.store.save(record)
        log.info("payment %s captured (%s USDC to %s, tx %s)", record["payment_id"], record["amount_usd"],
                 record["vendor"], tx_hash)
        if response is None:
            return Purchase(_view(record))
        return Purchase(_view(record), response.status_code, dict(response.headers), response.content, settlement)

    def _debit(self, record: dict[str, Any]) -> None:
        # Announced by `_log`'s save of the `captured` event, so a crash before it is completed.
        self.ledger.record(record["debit"])
        record["debited"] = True

    def _still_pending(self, record: dict[str, Any], why: str, response: httpx.Response | None = None,
                       reason: str | None = None) -> Purchase:
        record["error"] = why
        self.store.save(record)
        raise SettlementPending(
            f"payment {record['payment_id']}: {why}; the outcome is unknown — `payments capture "
            f"{record['payment_id']}` re-sends the same payload (never a new signature)", reason or PENDING)

    def _failed(self, record: dict[str, Any], reason: str) -> Purchase:
        record["error"] = reason
        _scrub(record)
        self._log(record, "failed", error=reason)
        self.store.save(record)
        raise SettlementFailed(f"payment {record['payment_id']} failed: the seller refused it ({reason}); no money "
                               "moved", reason)

    # --- resolve, cancel, expire --------------------------------------------------------------

    def resolve(self, payment_id: str) -> StagedPayment:
        """Settle an open payment's question from the chain: captured, expired, or still pending."""
        with self.store.locked(f"payment:{payment_id}"):
            record = self._load(payment_id)
            if record["status"] not in LIVE:
                return _view(record)
            _known, tx = self._chain_settlement(record)
            if tx is not None:
                return self._captured(record, tx, record.get("payer"), None, None).payment
            if utc_now() >= parse_utc(record["valid_before"]):
                return self._resolve_overdue(record)
            return _view(record)

    def _resolve_overdue(self, record: dict[str, Any]) -> StagedPayment:
        """Past `valid_before`: captured if the chain used the nonce, expired if it never can."""
        known, tx = self._chain_settlement(record)  # even an unsent payload may have been used by its holder
        if tx is not None:
            return self._captured(record, tx, record.get("payer"), None, None).payment
        if record["status"] == PENDING:
            if not known:
                raise SettlementPending(f"payment {record['payment_id']} is past valid_before with its outcome "
                                        "unknown and the chain could not be asked; `payments resolve` once it "
                                        "answers", PENDING)
        _scrub(record)
        self._log(record, "expired", error="valid_before passed; the authorization can never settle")
        self.store.save(record)
        return _view(record)

    def cancel(self, payment_id: str) -> StagedPayment:
        """Void an authorized payment before any paid request: payload destroyed, `cancelled` logged."""
        with self.store.locked(f"payment:{payment_id}"):
            record = self._load(payment_id)
            status = record["status"]
            if status == "cancelled":
                return _view(record)
            if status != "authorized":
                raise PaymentRefused(
                    f"payment {payment_id} is {status}; only an authorized payment whose paid request was never "
                    "sent can be cancelled" + (" (capture again to learn the outcome)" if status == PENDING else ""))
            _scrub(record)
            self._log(record, "cancelled")
            self.store.save(record)
            return _view(record)

    def expire_overdue(self) -> list[StagedPayment]:
        """Resolve every open payment past `valid_before` (expired, or captured if the chain says so)."""
        done = []
        now = utc_now()
        for record in self.store.all():
            if record.get("status") in LIVE and now >= parse_utc(record["valid_before"]):
                try:
                    done.append(self.resolve(record["payment_id"]))
                except SettlementPending:
                    continue
        return done

    def pay(self, intent: PaymentIntent, idempotency_key: str, quote: Quote | None = None, *,
            url: str | None = None) -> Purchase:
        """One-shot purchase of an approved intent: authorize, then capture."""
        payment = self.authorize(intent, idempotency_key, quote, url=url)
        return self.capture(payment.payment_id)

    # --- the private record and the ledger ---------------------------------------------------

    def _load(self, payment_id: str) -> dict[str, Any]:
        record = self.store.load(payment_id)
        if record is None:
            raise PaymentNotFound(f"no staged payment {payment_id!r} in {self.store.where}")
        if record.get("unlogged") or (record.get("debit") and not record.get("debited")):
            self._complete(record)
        return record

    def _complete(self, record: dict[str, Any]) -> None:
        """Append what an interrupted call announced but may not have written (each exactly once)."""
        if record.get("unlogged"):
            written = {e.event_id for e in self.monitor.read_events().records if e.payment_id == record["payment_id"]}
            for event in record["unlogged"]:
                if event["event_id"] not in written:
                    self.monitor.log_payment(event)
            record["unlogged"] = []
            self.store.save(record)
        if record.get("debit") and not record.get("debited"):
            entry_id = record["debit"]["entry_id"]
            if not any(e.entry_id == entry_id for e in self.ledger.read_entries().records):
                self.ledger.record(record["debit"])
            record["debited"] = True
            self.store.save(record)

    def _log(self, record: dict[str, Any], status: str, *, error: str | None = None) -> None:
        event = {
            "event_id": uuid.uuid4().hex,
            "ts": format_utc(self._clock()),
            "payment_id": record["payment_id"],
            "status": status,
            **{name: record.get(name) for name in (
                "agent", "vendor", "chain", "token", "amount_usd", "business_id", "intent_id", "idempotency_key",
                "valid_before", "tx_hash", "resource_url", "pay_to", "asset", "nonce", "payer", "decision_hash")},
            "error": error,
        }
        event = {k: v for k, v in event.items() if v is not None}
        record["status"] = status
        record.setdefault("unlogged", []).append(event)
        self.store.save(record)  # announced: a crash from here on is completed by the next call
        self.monitor.log_payment(event)
        record["unlogged"].remove(event)

    def _chain_settlement(self, record: Mapping[str, Any]) -> tuple[bool, str | None]:
        """(known, tx): the transaction that used this payment's nonce; known is False when the
        chain could not be asked (none configured, or it failed), so nothing may be concluded."""
        if self.chain is None or not record.get("nonce") or not record.get("payer"):
            return False, None
        try:
            return True, self.chain.settlement_of(record["chain"], record["asset"], record["payer"], record["nonce"])
        except Exception as exc:  # an unreachable or failing node leaves the outcome unknown
            log.warning("payment %s: the chain could not be asked (%s)", record["payment_id"], type(exc).__name__)
            return False, None


def _payload(record: Mapping[str, Any]) -> PaymentPayload | PaymentPayloadV1:
    if "payload" not in record:
        raise PaymentRefused(f"payment {record['payment_id']} has no stored authorization any more")
    model = PaymentPayloadV1 if int(record.get("x402_version", 2)) == 1 else PaymentPayload
    return model.model_validate(_ints(record["payload"]))


def _settlement(response: httpx.Response) -> SettleResponse | None:
    header = response.headers.get(PAYMENT_RESPONSE_HEADER) or response.headers.get(X_PAYMENT_RESPONSE_HEADER)
    if not header:
        return None
    try:
        return decode_payment_response_header(header)
    except (ValueError, TypeError):
        return None


def _reason(response: httpx.Response, settlement: SettleResponse | None) -> str | None:
    """The x402 reason of a refusal: the settlement's, else the 402 challenge's `error`."""
    if settlement is not None and settlement.error_reason:
        return settlement.error_reason
    if response.status_code == 402:
        try:
            return read_challenge(response).error
        except ChallengeError:
            return None
    return None


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
