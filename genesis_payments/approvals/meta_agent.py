"""`GenesisMetaAgent` (§8): every payment intent is decided, and the decision logged, before any spend.

The rules of the policy are checked in the contract's order and every one is always applied, so a
denial lists every rule the intent broke:

1. `vendor_not_allowlisted`, `vendor_unsupported` (not in the vendor cache for the chain and token)
2. `agent_flagged`, `mandate_flagged`
3. `over_intent_maximum`
4. `<scope>_<period>_budget` for agent, vendor and business, daily and monthly
5. `velocity`: the agent's approved intents in the last 60 seconds (when the policy sets a limit)
6. `halted`: a halt in force for everything, the agent or the vendor (the halt is named)
7. above the review threshold the decision is `pending_review` (it reserves budget while it waits)

Everything an answer depends on is read under the approval log's lock: the policy file, the lines
other processes appended to the log (decisions, halts, policy changes) and new payment events. So
budgets, velocity and halts hold across processes from the very next decision, and a new agent on
the same root (a restart) rebuilds the same state from the files. When the policy's hash differs
from the one the chain last used, a `policy_change` record goes into the chain first.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from genesis_payments.approvals.halts import HaltBook
from genesis_payments.approvals.policy import Policy, load_policy_file, policy_file_identity
from genesis_payments.approvals.policy_changes import (
    describe_changes,
    effective_settings,
    recalled_policy,
    remember_policy,
)
from genesis_payments.approvals.spend_checkpoint import load_spend_checkpoint, save_spend_checkpoint
from genesis_payments.approvals.spend_state import SpendState
from genesis_payments.core.errors import InvalidRecord, PaymentsError, database_failure_of
from genesis_payments.core.money import format_usd, from_micro, to_micro
from genesis_payments.core.records import ApprovalDecision, PaymentIntent, PolicyChangeRecord
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.core.wording import duration
from genesis_payments.ledgers.approval_log import GENESIS_HASH, LogHandle, LogView, open_approval_log
from genesis_payments.ledgers.jsonl import describe_validation_error
from genesis_payments.ledgers.sources import payment_event_follower

log = logging.getLogger(__name__)

T = TypeVar("T")
TIMEOUT_REVIEWER = "system:review-timeout"
# A checkpoint of the spend state is written (under the lock, after catching up) once the log has
# this many lines more than at the last one that this agent had to read (a start, other writers),
# or five times as many counting its own appends (each write costs a fraction of a second on a
# million decisions: the decisions' own rate pays for it only that rarely). A restart then reads at
# most about that many lines of the log.
CHECKPOINT_EVERY_LINES = 20_000
OWN_LINES_FACTOR = 5
VELOCITY_WINDOW = timedelta(seconds=60)
# Fields an annotation may not set: the record's own, and `kind` (which would make it a control line).
_RESERVED_KEYS = frozenset(ApprovalDecision.model_fields) | {"kind", "chain", "token", "mandate_id", "resolves"}


class VendorCatalog(Protocol):
    """What the meta agent needs from the vendor capability cache."""

    def supports(self, vendor: str, chain: str, token: str) -> bool: ...


class IntentDenied(PaymentsError):
    """An intent may not be paid: its decision is `denied` (or still waiting for review)."""

    def __init__(self, decision: ApprovalDecision) -> None:
        self.decision = decision
        reasons = "; ".join(decision.reasons) or "no reason recorded"
        super().__init__(f"intent {decision.intent_id} is {decision.decision}: {reasons}")


class ReviewError(PaymentsError):
    """A review could not be applied (unknown id, not waiting for review, window closed)."""


def require_approved(decision: ApprovalDecision) -> ApprovalDecision:
    """Halt execution unless the decision is `approved`: raise IntentDenied otherwise."""
    if decision.decision != "approved":
        raise IntentDenied(decision)
    return decision


class _MissingVendorCache:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def supports(self, vendor: str, chain: str, token: str) -> bool:
        raise PaymentsError(f"the vendor capability cache is not available ({self.error}); cannot check {vendor}")


def default_vendor_catalog(settings: Settings) -> VendorCatalog:
    """The project's vendor capability cache (imported late: it is its own module)."""
    try:
        from genesis_payments.payments.vendor_cache import VendorCapabilityCache
    except ImportError as exc:
        return _MissingVendorCache(exc)
    return VendorCapabilityCache(settings)


def coerce_intent(intent: PaymentIntent | Mapping[str, Any]) -> PaymentIntent:
    if isinstance(intent, PaymentIntent):
        return intent
    if not isinstance(intent, Mapping):
        raise InvalidRecord(f"a payment intent must be a PaymentIntent or a dict, not {type(intent).__name__}")
    try:
        return PaymentIntent.model_validate(intent)
    except ValidationError as exc:
        raise InvalidRecord(f"invalid payment intent: {describe_validation_error(exc)}") from None


def _previous_month(moment: datetime) -> str:
    """The month before `moment`'s (UTC): budgets never look further back, even across a month end."""
    first = moment.astimezone(UTC).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


BUDGET_KEYS = (("agent", "agent"), ("vendor", "vendor"), ("business", "business_id"))


def failed_rules(intent: PaymentIntent, policy: Policy, vendors: VendorCatalog, state: SpendState, *,
                 chain: str, token: str, day: str, month: str) -> list[str]:
    """Every rule of the policy this intent breaks, in the contract's order (velocity and halts aside)."""
    reasons: list[str] = []
    cost = to_micro(intent.cost_usd)
    cost_text = format_usd(intent.cost_usd)
    if policy.vendor_allowlist is not None and intent.vendor not in policy.vendor_allowlist:
        reasons.append(f"vendor_not_allowlisted: vendor {intent.vendor!r} is not on the policy's allowlist")
    if not vendors.supports(intent.vendor, chain, token):
        reasons.append(
            f"vendor_unsupported: vendor {intent.vendor!r} is not known to the vendor cache for {token} on {chain}"
        )
    if intent.agent in policy.flagged_agents:
        reasons.append(f"agent_flagged: agent {intent.agent!r} is flagged")
    if intent.mandate_id is not None and intent.mandate_id in policy.flagged_mandates:
        reasons.append(f"mandate_flagged: mandate {intent.mandate_id!r} is flagged")
    if policy.max_intent_usd is not None and cost > to_micro(policy.max_intent_usd):
        reasons.append(
            f"over_intent_maximum: {cost_text} USDC is over the per-intent maximum "
            f"of {format_usd(policy.max_intent_usd)} USDC"
        )
    for scope, field in BUDGET_KEYS:
        key = getattr(intent, field)
        for period, when in (("daily", day), ("monthly", month)):
            limit = policy.limit_micro(scope, key, period)
            reserved = state.reserved(scope, key, when)
            if limit is not None and reserved + cost > limit:
                reasons.append(
                    f"{scope}_{period}_budget: {scope} {key!r} has {format_usd(from_micro(reserved))} USDC "
                    f"reserved for {when}; {cost_text} more would exceed its {period} budget "
                    f"of {format_usd(from_micro(limit))} USDC"
                )
    return reasons


class GenesisMetaAgent:
    """Decides payment intents against the policy and appends every decision to the approval log."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        vendors: VendorCatalog | None = None,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utc_now,
        full: bool = False,
    ) -> None:
        """`full`: rebuild the spend state from both logs even when a usable checkpoint exists."""
        self.settings = settings or Settings()
        self.vendors = vendors if vendors is not None else default_vendor_catalog(self.settings)
        self.log = open_approval_log(self.settings)  # the files of §2, or PostgreSQL (§12)
        self._clock = clock
        self._fixed_policy = policy
        self._policy_path = self.settings.effective_policy_path
        self._policy_identity: tuple[int, int, int] | None = None
        self._policy = policy if policy is not None else self._load_policy()
        remember_policy(self.settings, self._policy)
        self._events = payment_event_follower(self.settings)  # transactions.jsonl, or PostgreSQL's table
        self._events_identity: Any = None
        self._tail = self.log.new_tail()
        self.state = SpendState()
        self._reset_chain_state()
        # Warm start (§5): the first read of the log tries the spend checkpoint; how it went is here.
        self.checkpoint_every = CHECKPOINT_EVERY_LINES
        self.start_report: dict[str, Any] | None = (
            {"scan": "full", "rescan_reason": "a full rebuild was asked for", "from_line": 0} if full else None)
        # The spend checkpoint describes files (§5); the PostgreSQL store's readers follow `seq`.
        self._keeps_checkpoint = not self.settings.uses_postgres
        self._checkpoint_tried = full or not self._keeps_checkpoint
        self._saved_lines = 0
        self._own_lines = 0  # lines this agent appended since the last checkpoint

    def _reset_chain_state(self) -> None:
        """Forget everything derived from the approval log (it was replaced, rotated or cut); the
        payment events' effects are kept and applied to the new state."""
        events = self.state.events_applied()
        self.state = SpendState(horizon=_previous_month(self._clock()))
        for intent_id, status, payment_id in events:
            self.state.apply_event(intent_id, status, payment_id)
        self.halts = HaltBook()
        self._approved_recently: dict[str, deque[str]] = {}
        self._chain_policy: str | None = None  # the policy hash the chain last named
        self._recent_since = ""

    @property
    def policy(self) -> Policy:
        return self._policy

    # -- the decision ----------------------------------------------------------------------------

    def approve_payment_intent(
        self, intent: PaymentIntent | Mapping[str, Any], *, annotations: Mapping[str, str] | None = None
    ) -> ApprovalDecision:
        """Decide one intent and append the decision (durably) before returning it.

        An intent id that already has a decision gets that decision back, unchanged and not
        appended again: an intent is decided once. `annotations` are extra string fields kept on
        the decision (e.g. the `flow_run_id` of a Prefect run waiting for its review).
        """
        intent = coerce_intent(intent)

        def decide(handle: LogHandle) -> ApprovalDecision:
            self._catch_up(handle)
            location = self.state.location(intent.intent_id)
            if location is not None:
                return self._decision_at(handle, *location)
            return self._decide(handle, intent, annotations or {})

        ts = format_utc(self._clock())
        keys = [f"{scope}:{getattr(intent, field)}:{when}"
                for scope, field in BUDGET_KEYS for when in (ts[:10], ts[:7])]
        return self._locked(decide, keys=keys)

    def _decide(self, handle: LogHandle, intent: PaymentIntent, annotations: Mapping[str, str]) -> ApprovalDecision:
        policy = self._policy
        now = self._clock()
        ts = format_utc(now)
        chain = intent.chain or policy.default_chain
        token = intent.token or policy.default_token
        reasons = failed_rules(intent, policy, self.vendors, self.state, chain=chain, token=token,
                               day=ts[:10], month=ts[:7])
        reasons += self._velocity_reasons(intent.agent, policy, now)
        halted = self.halts.find(agent=intent.agent, vendor=intent.vendor)
        if halted is not None:
            reasons.append(f"halted: {halted.describe()}")
        if reasons:
            verdict = "denied"
        elif policy.review_threshold_usd is not None and intent.cost_usd > policy.review_threshold_usd:
            verdict = "pending_review"
            reasons = [
                f"review_threshold: {format_usd(intent.cost_usd)} USDC is above the review threshold "
                f"of {format_usd(policy.review_threshold_usd)} USDC; waiting for a person"
            ]
        else:
            verdict = "approved"
        fields: dict[str, Any] = {
            "decision_id": uuid.uuid4().hex,
            "ts": ts,
            "intent_id": intent.intent_id,
            "agent": intent.agent,
            "vendor": intent.vendor,
            "component": intent.component,
            "strategy": intent.strategy,
            "cost_usd": intent.cost_usd,
            "business_id": intent.business_id,
            "chain": chain,
            "token": token,
            "decision": verdict,
            "reasons": reasons,
            "policy": policy.hash,
        }
        if intent.mandate_id is not None:
            fields["mandate_id"] = intent.mandate_id
        for key, value in annotations.items():
            if key not in _RESERVED_KEYS and isinstance(value, str):
                fields[key] = value
        return self._append_decision(handle, fields)

    def _velocity_reasons(self, agent: str, policy: Policy, now: datetime) -> list[str]:
        limit = policy.velocity_per_agent_per_minute
        if limit is None:
            return []
        recent = self._approved_recently.get(agent)
        if recent is None:
            return []
        since = format_utc(now - VELOCITY_WINDOW)  # timestamps of the log sort as text
        while recent and recent[0] <= since:
            recent.popleft()
        if len(recent) < limit:
            return []
        return [f"velocity: agent {agent!r} had {len(recent)} approved intents in the last 60 seconds; "
                f"the policy allows {limit} per minute"]

    # -- appending -------------------------------------------------------------------------------

    def _append_decision(self, handle: LogHandle, fields: dict[str, Any]) -> ApprovalDecision:
        """Chain a decision onto the log (after a policy-change record when the policy changed)."""
        self._tail.refuse_if_broken(self.log.path)
        if self._chain_policy is not None and self._chain_policy != self._policy.hash:
            self._append_policy_change(handle)
        draft = ApprovalDecision.model_validate({**fields, "prev_hash": self._tail.last_hash, "hash": GENESIS_HASH})
        body = draft.to_json_dict()
        del body["hash"]
        self._append_line(handle, body)
        return draft.model_copy(update={"hash": self._tail.last_hash})

    def _append_policy_change(self, handle: LogHandle) -> None:
        old, new = self._chain_policy, self._policy
        known = recalled_policy(self.settings, old) if old else None
        body = {
            "kind": "policy_change",
            "change_id": uuid.uuid4().hex,
            "ts": format_utc(self._clock()),
            "old_policy": old,
            "new_policy": new.hash,
            "changes": describe_changes(known, effective_settings(new)),
            "prev_hash": self._tail.last_hash,
        }
        PolicyChangeRecord.model_validate({**body, "hash": GENESIS_HASH})
        self._append_line(handle, body)

    def _append_line(self, handle: LogHandle, body: dict[str, Any]) -> None:
        digest, offset, length = handle.append_record(self._tail, body)
        self._own_lines += 1
        self._apply({**body, "hash": digest}, offset, length)

    def _apply(self, record: dict[str, Any], offset: int, length: int) -> None:
        """One line of the chain, in file order: what every later decision must take into account."""
        kind = record.get("kind")
        if kind in ("halt", "resume"):
            self.halts.apply(record)
        elif kind == "policy_change":
            self._chain_policy = record["new_policy"]
        elif kind is None:  # a decision (a kind this version does not know is left alone)
            self.state.apply_decision(record, offset, length)
            self._chain_policy = record["policy"]
            if record["decision"] == "approved" and record["ts"] > self._recent_since:
                self._approved_recently.setdefault(record["agent"], deque()).append(record["ts"])

    # -- reviews ---------------------------------------------------------------------------------

    def pending_reviews(self) -> list[ApprovalDecision]:
        """Decisions still waiting for a person (overdue ones are first resolved as denied)."""
        def pending(handle: LogHandle) -> list[ApprovalDecision]:
            self._catch_up(handle)
            return self._pending(handle)

        return self._locked(pending)

    def read_pending_reviews(self) -> list[ApprovalDecision]:
        """The same list, read without the lock and without writing anything (overdue ones included)."""
        if self.settings.uses_postgres:
            self._read_events_tolerantly()
        with self.log.viewed() as view:
            if view is None:
                return []
            self._follow(view)
            return self._pending(view)

    def _pending(self, view: LogView) -> list[ApprovalDecision]:
        pending = sorted(self.state.pending().values(), key=lambda s: s.offset)
        return [self._decision_at(view, s.offset, s.length) for s in pending]

    def resolve_review(self, review_id: str, *, approve: bool, by: str, note: str | None = None) -> ApprovalDecision:
        """Append the person's answer to a `pending_review` decision (id = intent id or decision id)."""
        if not by or not by.strip():
            raise ReviewError("a review needs the reviewer's name (--by)")

        def resolve(handle: LogHandle) -> ApprovalDecision:
            self._catch_up(handle)
            intent_id = self._find_intent(handle, review_id)
            state = self.state.intents.get(intent_id)
            if state is None or state.decision != "pending_review":
                latest = self._decision_at(handle, *self.state.location(intent_id))
                who = f" by {latest.resolved_by}" if latest.resolved_by else ""
                raise ReviewError(
                    f"intent {intent_id} is not waiting for review: it is already {latest.decision}{who} "
                    f"(decision {latest.decision_id})"
                )
            verdict = "approved" if approve else "denied"
            reason = f"review: {verdict} by {by}" + (f": {note}" if note else "")
            return self._resolve(handle, state, verdict, [reason], by)

        return self._locked(resolve)

    def deny_unanswered(self, intent_id: str) -> ApprovalDecision:
        """The review window of a waiting Prefect run closed: deny the intent if nobody answered.

        Returns the intent's latest decision: the new denial, or whatever a person decided first.
        """
        def deny(handle: LogHandle) -> ApprovalDecision:
            self._catch_up(handle)
            location = self.state.location(intent_id)
            if location is None:
                raise ReviewError(f"no decision for intent {intent_id!r} in {self.log.path}")
            state = self.state.intents.get(intent_id)
            if state is None or state.decision != "pending_review":
                return self._decision_at(handle, *location)
            reason = "review_timeout: nobody answered before the review window closed"
            return self._resolve(handle, state, "denied", [reason], TIMEOUT_REVIEWER)

        return self._locked(deny)

    def latest_decision(self, intent_id: str) -> ApprovalDecision | None:
        def latest(handle: LogHandle) -> ApprovalDecision | None:
            self._catch_up(handle)
            location = self.state.location(intent_id)
            return None if location is None else self._decision_at(handle, *location)

        return self._locked(latest)

    def expire_overdue_reviews(self) -> list[ApprovalDecision]:
        """Resolve as `denied` every review whose window has closed; returns the new decisions."""
        return self._locked(self._catch_up)

    def _find_intent(self, handle: LogHandle, review_id: str) -> str:
        if self.state.location(review_id) is not None:
            return review_id
        for intent_id, state in self.state.pending().items():
            if self._decision_at(handle, state.offset, state.length).decision_id == review_id:
                return intent_id
        # A resolved decision id: find it so the error can say what happened to it.
        record = handle.find_decision(review_id)
        if record is not None and self.state.location(record.get("intent_id", "")):
            return record["intent_id"]
        raise ReviewError(f"no decision or intent with id {review_id!r} in {self.log.path}")

    def _resolve(self, handle: LogHandle, state: Any, verdict: str, reasons: list[str], by: str) -> ApprovalDecision:
        pending = self._decision_at(handle, state.offset, state.length).to_json_dict()
        fields = {k: v for k, v in pending.items() if k not in ("hash", "prev_hash", "resolved_by")}
        fields.update(
            decision_id=uuid.uuid4().hex,
            ts=format_utc(self._clock()),
            decision=verdict,
            reasons=reasons,
            resolved_by=by,
            policy=self._policy.hash,
            resolves=pending["decision_id"],
        )
        return self._append_decision(handle, fields)

    # -- reading the files -----------------------------------------------------------------------

    def _decision_at(self, view: LogView, offset: int, length: int) -> ApprovalDecision:
        return ApprovalDecision.model_validate_json(view.record_at(offset, length))

    def _catch_up(self, handle: LogHandle) -> list[ApprovalDecision]:
        """Under the lock: apply the policy file, other writers' records and new payment events."""
        self._refresh_policy()
        self._follow(handle)
        if self._keeps_checkpoint:
            grown = self._tail.lines - self._saved_lines
            if grown - self._own_lines >= self.checkpoint_every or grown >= self.checkpoint_every * OWN_LINES_FACTOR:
                self._save_checkpoint()
        if self.state.review_deadlines:
            return self._expire(handle)
        return []

    def _locked(self, work: Callable[[LogHandle], T], keys: list[str] | None = None) -> T:
        """`work` under the approval log's lock. On PostgreSQL the new payment events are read first:
        a query of their own, kept out of the chain's head lock that every host's decisions queue on.
        Payment events are appended without that lock on either store, so reading them just before
        it rather than under it misses nothing more: a cancel and a new authorization racing a decision
        are a race on either store."""
        if self.settings.uses_postgres:
            self._read_events_tolerantly()
        return self.log.run_locked(work, keys=keys or ())

    def _read_events_tolerantly(self) -> None:
        try:
            self._read_events()
        except Exception as exc:
            failure = database_failure_of(exc)
            if failure is None:
                raise
            # The server went away under this process's connection (a crash, a restart): the chain's
            # transaction that follows reconnects and retries, and the events are read next time.
            log.warning("payment events not read before this decision: %s", failure)

    def _follow(self, view: LogView) -> None:
        # Approvals older than the velocity window never count again: not kept.
        self._recent_since = format_utc(self._clock() - VELOCITY_WINDOW)
        # A log replaced or cut is read from the top; under the lock it must reach the recorded head.
        view.follow(self._tail, self._apply, on_reset=self._start_from_the_top, warm_start=self._warm_start)
        if not self.settings.uses_postgres:  # the files store: one stat, under the lock (else `_locked`)
            self._read_events()

    def _warm_start(self, view: LogView, head: Any) -> bool:
        """On the first read only: go on from the spend checkpoint if it still describes both files."""
        if self._checkpoint_tried:
            return False
        self._checkpoint_tried = True
        now = self._clock()
        snapshot, reason = load_spend_checkpoint(self.settings, view, now, _previous_month(now), head)
        if snapshot is None:
            self.start_report = {"scan": "full", "rescan_reason": reason, "from_line": 0}
            if reason is not None:
                log.warning("spend state rebuilt from both logs: %s", reason)
            return False
        tail = self._tail
        tail.reset_to(view.identity, head)
        tail.offset, tail.lines, tail.last_hash, tail.broken = (snapshot.tail_offset, snapshot.tail_lines,
                                                                snapshot.last_hash, snapshot.broken)
        if head is not None and head.lines == tail.lines:
            tail.hash_at_head = tail.last_hash
        self.state, self.halts = snapshot.state, snapshot.halts
        self._approved_recently = {agent: deque(times) for agent, times in snapshot.approved_recently.items()}
        self._chain_policy = snapshot.chain_policy
        self._recent_since = ""
        self._events.resume_at(snapshot.positions["transactions"])
        self._events_identity = None  # the next probe reads on from the resumed position
        self._saved_lines = tail.lines
        self.start_report = {"scan": "incremental", "rescan_reason": None, "from_line": tail.lines}
        return True

    def save_checkpoint(self) -> None:
        """Follow both logs to their end under the lock, then write the spend checkpoint (files store
        only: on PostgreSQL a process follows the chain from its last `seq`, with no file positions)."""
        if not self._keeps_checkpoint:
            return

        def follow_then_save(handle: LogHandle) -> None:
            self._refresh_policy()
            self._follow(handle)
            self._save_checkpoint()

        self._locked(follow_then_save)

    def _start_from_the_top(self) -> None:
        """The log was replaced, rotated or cut (or this is the first read with no usable checkpoint)."""
        self._reset_chain_state()
        self._saved_lines = self._own_lines = 0

    def _save_checkpoint(self) -> None:
        # Only called under the lock, right after `_follow`: the state is that of both files' ends.
        save_spend_checkpoint(self.settings, self.state, self.halts, self._tail, self._events,
                              chain_policy=self._chain_policy, approved_recently=self._approved_recently,
                              now=self._clock(), recent_since=self._recent_since)
        self._saved_lines, self._own_lines = self._tail.lines, 0

    def _refresh_policy(self) -> None:
        # One stat per decision; the file is read again only when it changed. A broken file fails
        # every decision (ConfigError) until fixed, rather than leaving the old policy in force.
        if self._fixed_policy is not None:
            return
        if policy_file_identity(self._policy_path) != self._policy_identity:
            self._policy = self._load_policy()
            remember_policy(self.settings, self._policy)

    def _load_policy(self) -> Policy:
        identity = policy_file_identity(self._policy_path)
        policy = load_policy_file(self._policy_path)
        self._policy_identity = identity
        return policy

    def _read_events(self) -> None:
        # One probe per decision (a stat, or PostgreSQL's last seq); the reader runs only when it changed.
        identity = self._events.probe()
        if identity == self._events_identity:
            return
        self._events_identity = identity
        result, reset = self._events.read_new()
        self.state.follow_events(result.records, reset=reset)

    def _expire(self, handle: LogHandle) -> list[ApprovalDecision]:
        overdue = self.state.overdue_reviews(self._clock(), self._policy.review_timeout_seconds)
        decided = []
        for intent_id in overdue:
            state = self.state.intents[intent_id]
            reason = f"review_timeout: nobody answered within {duration(self._policy.review_timeout_seconds)}"
            decided.append(self._resolve(handle, state, "denied", [reason], TIMEOUT_REVIEWER))
        return decided
