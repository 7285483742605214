"""The records of the contract (§4) as pydantic models: strict where the contract is strict.

Every model allows extra fields ("more are allowed") and keeps them, so a reader never drops data
that a newer writer added.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from genesis_payments.core.money import Usd, sum_usd
from genesis_payments.core.timestamps import UtcTimestamp

# Characters no identifier may hold: C0/C1 controls (NUL, newline, ESC …), invisible format
# characters and bidi controls (U+202E would show `gpj.exe` as `exe.jpg` in a terminal or a report),
# line/paragraph separators, and the backslash. Kept as one regex so pydantic-core checks it in Rust.
_FORBIDDEN_IN_ID = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\\"
)


def _id_pattern(forbidden: str) -> str:
    """Only allowed characters, and at least one that is not white space."""
    return rf"^[^{forbidden}]*[^\s{forbidden}][^{forbidden}]*$"


ID_PATTERN = _id_pattern(_FORBIDDEN_IN_ID + "/")
VENDOR_ID_PATTERN = _id_pattern(_FORBIDDEN_IN_ID)
ID_RULE = "printable text, not only spaces, without '/', '\\', NUL, control or bidi characters"

Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
"""An identifier (intent, payment, event, agent, business …): printable, not only white space, and
free of path separators (`/`, `\\`), NUL, controls and bidi overrides, so it is safe in a file
name, a log line, a terminal and a report."""

VendorId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=VENDOR_ID_PATTERN)]
"""A vendor id: as `Id`, but `/` is allowed (vendor ids such as `payments:deploy/vercel` name paths)."""

CAIP2_PATTERN = r"^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$"
Caip2 = Annotated[str, StringConstraints(pattern=CAIP2_PATTERN)]
"""A CAIP-2 chain id such as ``eip155:8453``."""

HexDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

PaymentStatus = Literal["authorized", "captured", "cancelled", "expired", "failed", "settlement_pending"]
PAYMENT_STATUSES: tuple[str, ...] = PaymentStatus.__args__  # type: ignore[attr-defined]

# The lifecycle of §4. A first `failed` is an authorization refused before it was ever valid (it
# releases the reservation). `ledgers.payment_states` folds events through this table.
ALLOWED_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"authorized", "failed"}),
    "authorized": frozenset({"captured", "cancelled", "expired", "failed", "settlement_pending"}),
    "settlement_pending": frozenset({"captured", "failed", "expired"}),
    "captured": frozenset(),
    "cancelled": frozenset(),
    "expired": frozenset(),
    "failed": frozenset(),
}

Decision = Literal["approved", "denied", "pending_review"]
FinanceKind = Literal["debit", "refund"]


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)

    def to_json_dict(self) -> dict:
        """The on-disk form: money as strings, timestamps as RFC 3339, optional absences left out."""
        return self.model_dump(mode="json", exclude_none=True)


class PaymentIntent(Record):
    """What an agent wants to buy; the input to approval (not stored on its own)."""

    intent_id: Id
    agent: Id
    vendor: VendorId
    component: Id
    strategy: Id
    cost_usd: Usd
    business_id: Id
    chain: Caip2 | None = None
    token: Id | None = None
    mandate_id: Id | None = None
    reason: str | None = None


class ApprovalDecision(Record):
    """One line of `approval_log.jsonl`, chained to the one before it by `prev_hash`."""

    decision_id: Id
    ts: UtcTimestamp
    intent_id: Id
    agent: Id
    vendor: VendorId
    component: Id
    strategy: Id
    cost_usd: Usd
    business_id: Id
    decision: Decision
    reasons: list[str]
    policy: Id
    prev_hash: HexDigest
    hash: HexDigest
    resolved_by: Id | None = None


HaltScope = Literal["all", "agent", "vendor"]


class HaltRecord(Record):
    """A halt (kill switch, §8) in `approval_log.jsonl`: every new intent in its scope is denied and
    every capture in it refused until a `resume` names its `halt_id`. `key` is the agent or vendor
    id (absent for scope `all`)."""

    kind: Literal["halt"]
    halt_id: Id
    ts: UtcTimestamp
    scope: HaltScope
    key: Id | None = None
    reason: Id
    by: Id
    prev_hash: HexDigest
    hash: HexDigest


class ResumeRecord(Record):
    """Lifts the halt `halt_id` (same scope and key); chained like every line of the approval log."""

    kind: Literal["resume"]
    halt_id: Id
    ts: UtcTimestamp
    scope: HaltScope
    key: Id | None = None
    by: Id
    reason: str | None = None
    prev_hash: HexDigest
    hash: HexDigest


class PolicyChangeRecord(Record):
    """The effective policy's hash changed: written before the first decision made under `new_policy`.
    `changes` says what changed, one readable line per setting (`budgets.agent.default.daily: 250 -> 100`)."""

    kind: Literal["policy_change"]
    change_id: Id
    ts: UtcTimestamp
    old_policy: Id | None = None
    new_policy: Id
    changes: list[str]
    prev_hash: HexDigest
    hash: HexDigest


class PaymentEvent(Record):
    """One state change of one payment, a line of `transactions.jsonl`."""

    event_id: Id
    ts: UtcTimestamp
    payment_id: Id
    status: PaymentStatus
    agent: Id
    vendor: VendorId
    chain: Caip2
    token: Id
    amount_usd: Usd
    business_id: Id | None = None
    intent_id: Id | None = None
    idempotency_key: Id | None = None
    tx_hash: str | None = None
    valid_before: UtcTimestamp | None = None
    error: str | None = None
    # What the buyer paid, as the seller's 402 asked it (§9), and the decision it relied on.
    resource_url: str | None = None
    pay_to: str | None = None
    asset: str | None = None
    nonce: str | None = None
    payer: str | None = None
    decision_hash: HexDigest | None = None


class FinanceEntry(Record):
    """One accounting entry of `finance_ledger.jsonl`; one debit per captured payment."""

    entry_id: Id
    ts: UtcTimestamp
    payment_id: Id
    agent: Id
    vendor: VendorId
    amount_usd: Usd
    kind: FinanceKind


class SpendSummary(Record):
    """Spend of one business: captured money only, with breakdowns that sum to the total."""

    business_id: Id
    ts: UtcTimestamp
    total_spent_usd: Usd
    approved_intents: StrictInt = Field(ge=0)
    denied_intents: StrictInt = Field(ge=0)
    pending_review: StrictInt = Field(ge=0)
    by_vendor: dict[str, Usd]
    by_agent: dict[str, Usd]
    by_component: dict[str, Usd]

    @model_validator(mode="after")
    def _breakdowns_sum_to_total(self) -> SpendSummary:
        for name in ("by_vendor", "by_agent", "by_component"):
            subtotal: Decimal = sum_usd(getattr(self, name).values())
            if subtotal != self.total_spent_usd:
                raise ValueError(f"{name} sums to {subtotal}, not total_spent_usd {self.total_spent_usd}")
        return self


class VendorCapabilities(Record):
    """What one vendor sells and how it is paid, as cached in `vendor_capabilities.json`."""

    vendor: VendorId
    pricing: dict[str, Usd]
    tokens: list[Id]
    chains: list[Caip2]
    capabilities: list[str]
    pay_to: Id
    asset: Id
    fetched_at: UtcTimestamp
    source: Literal["fake", "live"]


RECORD_MODELS: dict[str, type[Record]] = {
    "payment_intent": PaymentIntent,
    "approval_decision": ApprovalDecision,
    "halt_record": HaltRecord,
    "resume_record": ResumeRecord,
    "policy_change_record": PolicyChangeRecord,
    "payment_event": PaymentEvent,
    "finance_entry": FinanceEntry,
    "spend_summary": SpendSummary,
    "vendor_capabilities": VendorCapabilities,
}

