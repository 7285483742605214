"""`GenesisMetaAgent` (§8): every payment intent is decided, and the decision logged, before any spend.

The rules of the policy are checked in the contract's order and every one is always applied, so a
denial lists every rule the intent broke:

1. `vendor_not_allowlisted`, `vendor_unsupported` (not in the vendor cache for the chain and token)
2. `agent_flagged`, `mandate_flagged`
3. `over_intent_maximum`
4. `<scope>_<period>_budget` for agent, vendor and business, daily and monthly
5. above the review threshold the decision is `pending_review` (it reserves budget while it waits)

The budget check and the append happen under the approval log's lock. Before each decision the
agent applies whatever other processes appended to the approval log and the transaction log since
its last look, so budgets hold across processes, and a new agent on the same root (a restart)
rebuilds the same reservations from the two files.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from genesis_payments.approvals.policy import Policy, load_policy_file, policy_file_identity
from genesis_payments.approvals.spend_state import SpendState
from genesis_payments.core.errors import InvalidRecord, LedgerError, PaymentsError
from genesis_payments.core.file_watch import FileWatch, fork_generation
from genesis_payments.core.money import format_usd, from_micro, to_micro
from genesis_payments.core.records import ApprovalDecision, PaymentEvent, PaymentIntent
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.core.wording import duration
from genesis_payments.ledgers.approval_log import GENESIS_HASH, ApprovalLog, LogHandle
from genesis_payments.ledgers.jsonl import IncrementalReader, describe_validation_error, iter_lines

TIMEOUT_REVIEWER = "system:review-timeout"


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


_validate_intent = PaymentIntent.__pydantic_validator__.validate_python


def coerce_intent(intent: PaymentIntent | Mapping[str, Any]) -> PaymentIntent:
    if intent.__class__ is not dict:  # a plain dict, the common case, skips two isinstance checks (one on an ABC)
        if isinstance(intent, PaymentIntent):
            return intent
        if not isinstance(intent, Mapping):
            raise InvalidRecord(f"a payment intent must be a PaymentIntent or a dict, not {type(intent).__name__}")
    try:
        # `model_validate` minus its wrapper (argument checks, then this same call): a whole
        # microsecond of every decision.
        return _validate_intent(intent)
    except ValidationError as exc:
        raise InvalidRecord(f"invalid payment intent: {describe_validation_error(exc)}") from None


_DECISION_FIELDS = frozenset(ApprovalDecision.model_fields)
_ZERO = timedelta(0)


_READ_CHUNK = 8 << 20


def _previous_month(moment: datetime) -> str:
    """The month before `moment`'s (UTC): budgets never look further back, even across a month end."""
    moment = moment.astimezone(UTC)
    first = moment.replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _format_ts(moment: datetime) -> str:
    """`format_utc` for a UTC datetime, without strftime (hot path); always microseconds and +00:00.

    The text up to the second is kept from the previous call: decisions within one second share it.
    """
    if moment.tzinfo is not UTC:
        if moment.utcoffset() != _ZERO:
            return format_utc(moment)
        moment = moment.replace(tzinfo=UTC)
    second = (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year)
    cached = _LAST_SECOND[0]  # one read of one tuple: threads deciding at once never mix two seconds
    if cached[0] != second:
        # isoformat is the reference text; its first 19 characters are the date and time to the second.
        cached = _LAST_SECOND[0] = (second, moment.replace(microsecond=0).isoformat()[:19])
    return f"{cached[1]}.{moment.microsecond:06d}+00:00"


_LAST_SECOND: list[tuple[Any, str]] = [((), "")]


def _budget_reason(spend_key: tuple[str, str, str], period: str, reserved: int, cost_text: str, limit: int) -> str:
    scope, key, when = spend_key
    return (
        f"{scope}_{period}_budget: {scope} {key!r} has {format_usd(from_micro(reserved))} USDC "
        f"reserved for {when}; {cost_text} more would exceed its {period} budget "
        f"of {format_usd(from_micro(limit))} USDC"
    )


# Per shape of decision (its keys in order): the extra keys and the set of keys given.
_SHAPES: dict[tuple[str, ...], tuple[tuple[str, ...], frozenset[str]]] = {}
_set_attr = object.__setattr__


def _decision_shape(fields: dict[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    """(the keys that are not model fields, the set of keys given) of a decision's values."""
    shape = tuple(fields)
    known = _SHAPES.get(shape)
    if known is None:
        known = (tuple(k for k in shape if k not in _DECISION_FIELDS), frozenset(shape))
        if len(_SHAPES) < 256:  # annotations make new shapes; a few are enough to cache
            _SHAPES[shape] = known
    return known


def _construct_decision(fields: dict[str, Any],
                        known: tuple[tuple[str, ...], frozenset[str]] | None = None) -> ApprovalDecision:
    """An ApprovalDecision from values the agent produced and validated itself: no second validation.

    This is what `model_construct` does, minus its per-field default handling (every field is set).
    `known` is `_decision_shape(fields)` when the caller already has it.
    """
    extra_keys, given = known or _decision_shape(fields)
    extra = {k: fields.pop(k) for k in extra_keys} if extra_keys else {}
    if "resolved_by" not in fields:
        fields["resolved_by"] = None
    decision = ApprovalDecision.__new__(ApprovalDecision)
    _set_attr(decision, "__dict__", fields)
    _set_attr(decision, "__pydantic_extra__", extra)
    _set_attr(decision, "__pydantic_fields_set__", set(given))
    _set_attr(decision, "__pydantic_private__", None)
    return decision


class GenesisMetaAgent:
    """Decides payment intents against the policy and appends every decision to the approval log."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        vendors: VendorCatalog | None = None,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings or Settings()
        self.vendors = vendors if vendors is not None else default_vendor_catalog(self.settings)
        self.log = ApprovalLog(self.settings)
        self._clock = clock
        self._fixed_policy = policy
        self._policy_path = str(self.settings.effective_policy_path)
        self._policy_identity: tuple[int, int, int] | bool | None = False
        self._policy_watch = FileWatch(self._policy_path)
        self._policy_failed = False
        self._policy: Policy = policy if policy is not None else self._reload_policy()
        self._use_policy(self._policy)
        self.state = SpendState(horizon=_previous_month(clock()))
        self._log_offset = 0
        self._log_identity: tuple[int, int] | None = None
        self._last_hash = GENESIS_HASH
        self._events = IncrementalReader(self.settings.transactions_path, PaymentEvent)
        self._events_identity: tuple[int, int, int] | None = None
        self._events_path = str(self._events.path)
        self._events_watch = FileWatch(self._events_path)
        self._random = b""
        self._random_at = 0
        self._random_fork = -1
        self._day = self._month = ""  # the last decision's UTC day and month, interned
        self._plain_shape: tuple[tuple[str, ...], frozenset[str]] | None = None  # of a decision's keys

    def _new_id(self) -> str:
        """A random 128-bit hex decision id; the OS is asked for 4 KiB at a time, not for each id.

        Called under the log's lock (so one thread at a time per agent); a forked child draws
        fresh bytes rather than repeat its parent's.
        """
        at = self._random_at
        if at >= len(self._random) or self._random_fork != fork_generation():
            self._random = os.urandom(4096)
            self._random_fork = fork_generation()
            at = 0
        self._random_at = at + 16
        return self._random[at:at + 16].hex()

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
        log = self.log
        handle = log._acquire()  # `with log.locked()`, minus its context object on the hot path
        try:
            return self._decide(handle, intent, annotations)
        finally:
            log._release(handle)

    def _decide(self, handle: LogHandle, intent: PaymentIntent,
                annotations: Mapping[str, str] | None) -> ApprovalDecision:
        self._catch_up(handle)
        state = self.state
        intent_id = intent.intent_id
        known = state.location(intent_id)
        if known is not None:
            return self._decision_at(handle, *known)
        policy = self._policy
        cost_usd = intent.cost_usd
        cost_text = format_usd(cost_usd)
        cost = int(cost_text.replace(".", ""))  # = to_micro: the text has exactly 6 decimals, no sign
        now = self._clock()
        ts = _format_ts(now)
        chain = intent.chain or policy.default_chain
        token = intent.token or policy.default_token
        # Interned: the budget keys and intent states then share one string per id, and a look-up
        # of a key stored earlier compares its strings by identity.
        intern = sys.intern
        agent, vendor, business = intern(intent.agent), intern(intent.vendor), intern(intent.business_id)
        day = ts[:10]
        if day == self._day:
            day, month = self._day, self._month  # the interned strings the budget keys already hold
        else:
            self._day, self._month = day, month = sys.intern(day), sys.intern(ts[:7])
        # The six budget keys, built once, and what each holds: the check reads these amounts and
        # the reservation adds to them, with no second look-up.
        keys = (("agent", agent, day), ("agent", agent, month), ("vendor", vendor, day),
                ("vendor", vendor, month), ("business", business, day), ("business", business, month))
        spent_get = state.spent.get
        reserved = [spent_get(key, 0) for key in keys]
        reasons = self._failed_rules(intent, policy, cost, cost_text, chain, token, keys, reserved)
        if reasons:
            decision = "denied"
        elif self._threshold_micro is not None and cost > self._threshold_micro:
            decision = "pending_review"
            reasons = [
                f"review_threshold: {cost_text} USDC is above the review threshold "
                f"of {format_usd(policy.review_threshold_usd)} USDC; waiting for a person"
            ]
        else:
            decision = "approved"
        # Keys in canonical (sorted) order: the line is then encoded without sorting.
        body = {
            "agent": agent,
            "business_id": business,
            "chain": chain,
            "component": intent.component,
            "cost_usd": cost_text,
            "decision": decision,
            "decision_id": self._new_id(),
            "intent_id": intent_id,
            "policy": policy.hash,
            "prev_hash": self._last_hash,
            "reasons": reasons,
            "strategy": intent.strategy,
            "token": token,
            "ts": ts,
            "vendor": vendor,
        }
        plain = True  # the body's keys are those of the literal above (and `hash`, added below)
        if intent.mandate_id is not None:
            body["mandate_id"] = intent.mandate_id
            plain = False
        if annotations:
            for key, value in annotations.items():
                if key not in body and isinstance(value, str):
                    body[key] = value
                    plain = False
        clean = self._log_offset == handle.size  # everything read, so the file ends with a whole line
        digest, offset, length = self.log.append_body_locked(handle, body, flat=True, clean=clean)
        self._last_hash = digest
        self._log_offset = handle.size
        state.add_new_decision(intent_id, decision, cost, agent, vendor, business, ts, offset, length, keys, reserved)
        # The returned decision is built from values validated above (the intent) or produced
        # here; validating them again would only repeat that work.
        body["hash"] = digest
        body["ts"] = now
        body["cost_usd"] = cost_usd
        if not plain:
            return _construct_decision(body)
        known = self._plain_shape
        if known is None:
            known = self._plain_shape = _decision_shape(body)
        return _construct_decision(body, known)

    def _failed_rules(self, intent: PaymentIntent, policy: Policy, cost: int, cost_text: str, chain: str,
                      token: str, keys: tuple[tuple[str, str, str], ...], reserved: list[int]) -> list[str]:
        reasons: list[str] = []
        vendor = intent.vendor
        if self._allowlist is not None and vendor not in self._allowlist:
            reasons.append(f"vendor_not_allowlisted: vendor {vendor!r} is not on the policy's allowlist")
        if not self.vendors.supports(vendor, chain, token):
            reasons.append(
                f"vendor_unsupported: vendor {vendor!r} is not known to the vendor cache for {token} on {chain}"
            )
        if intent.agent in self._flagged_agents:
            reasons.append(f"agent_flagged: agent {intent.agent!r} is flagged")
        if intent.mandate_id is not None and intent.mandate_id in self._flagged_mandates:
            reasons.append(f"mandate_flagged: mandate {intent.mandate_id!r} is flagged")
        if self._max_micro is not None and cost > self._max_micro:
            reasons.append(
                f"over_intent_maximum: {cost_text} USDC is over the per-intent maximum "
                f"of {format_usd(policy.max_intent_usd)} USDC"
            )
        limits = self._limits
        for index in (0, 2, 4):
            spend_key = keys[index]
            pair_key = spend_key[:2]
            pair = limits.get(pair_key)
            if pair is None:
                scope, key = pair_key
                pair = limits[pair_key] = (policy.limit_micro(scope, key, "daily"),
                                           policy.limit_micro(scope, key, "monthly"))
            daily, monthly = pair
            if daily is not None and reserved[index] + cost > daily:
                reasons.append(_budget_reason(spend_key, "daily", reserved[index], cost_text, daily))
            if monthly is not None and reserved[index + 1] + cost > monthly:
                reasons.append(_budget_reason(keys[index + 1], "monthly", reserved[index + 1], cost_text, monthly))
        return reasons

    # -- reviews ---------------------------------------------------------------------------------

    def pending_reviews(self) -> list[ApprovalDecision]:
        """Decisions still waiting for a person (overdue ones are first resolved as denied)."""
        with self.log.locked() as handle:
            self._catch_up(handle)
            pending = sorted(self.state.pending().values(), key=lambda s: s.offset)
            return [self._decision_at(handle, s.offset, s.length) for s in pending]

    def resolve_review(self, review_id: str, *, approve: bool, by: str, note: str | None = None) -> ApprovalDecision:
        """Append the person's answer to a `pending_review` decision (id = intent id or decision id)."""
        if not by or not by.strip():
            raise ReviewError("a review needs the reviewer's name (--by)")
        with self.log.locked() as handle:
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

    def deny_unanswered(self, intent_id: str) -> ApprovalDecision:
        """The review window of a waiting Prefect run closed: deny the intent if nobody answered.

        Returns the intent's latest decision: the new denial, or whatever a person decided first.
        """
        with self.log.locked() as handle:
            self._catch_up(handle)
            location = self.state.location(intent_id)
            if location is None:
                raise ReviewError(f"no decision for intent {intent_id!r} in {self.log.path}")
            state = self.state.intents.get(intent_id)
            if state is None or state.decision != "pending_review":
                return self._decision_at(handle, *location)
            reason = "review_timeout: nobody answered before the review window closed"
            return self._resolve(handle, state, "denied", [reason], TIMEOUT_REVIEWER)

    def latest_decision(self, intent_id: str) -> ApprovalDecision | None:
        with self.log.locked() as handle:
            self._catch_up(handle)
            location = self.state.location(intent_id)
            return None if location is None else self._decision_at(handle, *location)

    def expire_overdue_reviews(self) -> list[ApprovalDecision]:
        """Resolve as `denied` every review whose window has closed; returns the new decisions."""
        with self.log.locked() as handle:
            return self._catch_up(handle)

    def _find_intent(self, handle: LogHandle, review_id: str) -> str:
        if self.state.location(review_id) is not None:
            return review_id
        for intent_id, state in self.state.pending().items():
            if self._decision_at(handle, state.offset, state.length).decision_id == review_id:
                return intent_id
        # A resolved decision id: find it so the error can say what happened to it.
        for _, raw, complete in iter_lines(self.log.path):
            if complete and review_id.encode() in raw:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if record.get("decision_id") == review_id and self.state.location(record.get("intent_id", "")):
                    return record["intent_id"]
        raise ReviewError(f"no decision or intent with id {review_id!r} in {self.log.path}")

    def _resolve(self, handle: LogHandle, state: Any, verdict: str, reasons: list[str], by: str) -> ApprovalDecision:
        pending = self._decision_at(handle, state.offset, state.length).to_json_dict()
        now = self._clock()
        body = {k: v for k, v in pending.items() if k not in ("hash", "resolved_by")}
        body.update(
            decision_id=uuid.uuid4().hex,
            ts=format_utc(now),
            decision=verdict,
            reasons=reasons,
            resolved_by=by,
            policy=self._policy.hash,
            prev_hash=self._last_hash,
        )
        body["resolves"] = pending["decision_id"]
        return self._append(handle, body, now, None)

    # -- log plumbing ----------------------------------------------------------------------------

    def _append(self, handle: LogHandle, body: dict[str, Any], now: datetime, cost: Any,
                micro: int | None = None) -> ApprovalDecision:
        clean = self._log_offset == handle.size  # everything read, so the file ends with a whole line
        digest, offset, length = self.log.append_body_locked(handle, body, flat=micro is not None, clean=clean)
        self._last_hash = digest
        self._log_offset = handle.size
        self.state.apply_decision(body, offset, length, micro)
        fields = dict(body, hash=digest, ts=now)
        if cost is None:
            return ApprovalDecision.model_validate(fields)
        fields["cost_usd"] = cost
        return _construct_decision(fields)

    def _decision_at(self, handle: LogHandle, offset: int, length: int) -> ApprovalDecision:
        raw = os.pread(handle.fd, length, offset).rstrip(b"\n")
        return ApprovalDecision.model_validate_json(raw)

    def _catch_up(self, handle: LogHandle) -> list[ApprovalDecision]:
        """Under the lock: apply the policy file, other writers' decisions and new payment events."""
        if self._fixed_policy is None and (self._policy_failed or self._policy_watch.maybe_changed()):
            # One fstat when nothing changed; the path is looked at again when something may have,
            # and before every decision while the file is broken (each one must fail until fixed).
            if not (self._policy_watch.absent and self._policy_identity is None and not self._policy_failed):
                identity = policy_file_identity(self._policy_path)
                if identity != self._policy_identity:
                    self._policy_failed = True
                    self._use_policy(self._reload_policy())
                    self._policy_failed = False
        if handle.identity != self._log_identity or handle.size < self._log_offset:
            self._reload_log(handle)
        elif handle.size > self._log_offset:
            self._read_log(handle)
        self._read_events()
        if self.state.review_deadlines:
            return self._expire(handle)
        return []

    def _use_policy(self, policy: Policy) -> None:
        # Limits in micro-USDC, computed once per policy rather than once per decision.
        self._policy = policy
        self._limits: dict[tuple[str, str], tuple[int | None, int | None]] = {}  # (scope, id) -> (daily, monthly)
        self._allowlist = None if policy.vendor_allowlist is None else frozenset(policy.vendor_allowlist)
        self._flagged_agents = frozenset(policy.flagged_agents)
        self._flagged_mandates = frozenset(policy.flagged_mandates)
        self._max_micro = None if policy.max_intent_usd is None else to_micro(policy.max_intent_usd)
        self._threshold_micro = None if policy.review_threshold_usd is None else to_micro(policy.review_threshold_usd)

    def _reload_policy(self) -> Policy:
        # The identity is kept only after a successful load: a broken file fails every decision
        # (ConfigError) until it is fixed, rather than leaving the old policy silently in force.
        identity = policy_file_identity(self._policy_path)
        policy = load_policy_file(self._policy_path)
        self._policy_identity = identity
        return policy

    def _reload_log(self, handle: LogHandle) -> None:
        events = list(self.state.latest_status.items())
        self.state = SpendState(horizon=_previous_month(self._clock()))
        self._log_identity = handle.identity
        self._log_offset = 0
        self._last_hash = GENESIS_HASH
        for intent_id, status in events:
            self.state.apply_event(intent_id, status)
        self._read_log(handle)

    def _read_log(self, handle: LogHandle) -> None:
        # In chunks: a restart on a million-line log must not hold the whole file in memory.
        apply = self.state.apply_decision_line
        while self._log_offset < handle.size:
            data = handle.read_from(self._log_offset, _READ_CHUNK)
            end = data.rfind(b"\n") + 1  # a torn tail (no newline) is not a decision yet
            if end == 0:
                if len(data) < _READ_CHUNK:
                    return
                raise LedgerError(f"{self.log.path}: a line longer than {_READ_CHUNK} bytes at byte {self._log_offset}")
            position = self._log_offset
            for raw in data[:end].split(b"\n")[:-1]:
                if raw.strip():
                    digest = apply(raw, position)
                    if digest is not None:
                        self._last_hash = digest
                position += len(raw) + 1
            self._log_offset += end

    def _read_events(self) -> None:
        watch = self._events_watch
        if not watch.maybe_changed() or (watch.absent and self._events_identity is None):
            return
        try:
            stat = os.stat(self._events_path)
            identity: tuple[int, int, int] | None = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            identity = None
        if identity == self._events_identity:
            return
        self._events_identity = identity
        result, reset = self._events.read_new()
        pairs = [(event.intent_id, event.status) for event in result.records]
        if reset:
            self.state.reset_events(pairs)
        else:
            for intent_id, status in pairs:
                self.state.apply_event(intent_id, status)

    def _expire(self, handle: LogHandle) -> list[ApprovalDecision]:
        overdue = self.state.overdue_reviews(self._clock(), self._policy.review_timeout_seconds)
        decided = []
        for intent_id in overdue:
            state = self.state.intents[intent_id]
            reason = f"review_timeout: nobody answered within {duration(self._policy.review_timeout_seconds)}"
            decided.append(self._resolve(handle, state, "denied", [reason], TIMEOUT_REVIEWER))
        return decided

