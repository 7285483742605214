"""Business-summary from its checkpoint gives, run after run, exactly the summary, invalid
transitions and bad lines of the full read it replaced (every event and decision as a record,
folded by `PaymentStates`); a replaced or truncated log and a corrupt checkpoint are rescans the
run names."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.core.money import from_micro, to_micro
from genesis_payments.core.records import PAYMENT_STATUSES, SpendSummary
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.business_checkpoint import READER, run_business_summary
from genesis_payments.jobs.spend_summary import UNKNOWN_COMPONENT, build_spend_summary
from genesis_payments.ledgers.approval_log import GENESIS_HASH, ApprovalLog, chained_line
from genesis_payments.ledgers.checkpoints import checkpoint_path
from genesis_payments.ledgers.ledgers import BusinessMonitor
from genesis_payments.ledgers.payment_states import fold_events
from tests.support.ledgers import T0, at, event

BUSINESSES = ("b1", "b2")


def summary_of_records(business_id: str, states, decisions) -> SpendSummary:
    """The summary as the job computed it before it kept a book: over each payment's state and the
    decisions as records (an oracle written apart from `BusinessBook`)."""
    component_of: dict[str, str] = {}
    latest = {}
    for decision in decisions:
        component_of.setdefault(decision.intent_id, decision.component)
        if decision.business_id == business_id:
            latest[decision.intent_id] = decision.decision
    spend: dict[str, dict[str, int]] = {"vendor": {}, "agent": {}, "component": {}}
    for state in states.payments.values():
        last = state.last_event
        if state.status == "captured" and last.business_id == business_id:
            component = component_of.get(last.intent_id or "", UNKNOWN_COMPONENT)
            for name, key in (("vendor", last.vendor), ("agent", last.agent), ("component", component)):
                spend[name][key] = spend[name].get(key, 0) + to_micro(last.amount_usd)
    verdicts = list(latest.values())
    return SpendSummary(
        business_id=business_id, ts=T0, total_spent_usd=from_micro(sum(spend["vendor"].values())),
        approved_intents=verdicts.count("approved"), denied_intents=verdicts.count("denied"),
        pending_review=verdicts.count("pending_review"),
        **{f"by_{name}": {k: from_micro(v) for k, v in sorted(spend[name].items())} for name in spend})


def full_read(config: Settings, business_id: str):
    """What the job read before it kept a checkpoint: both whole logs as records."""
    events = BusinessMonitor(config).read_events()
    decisions = ApprovalLog(config).read()
    states = fold_events(events.numbered())
    summary = summary_of_records(business_id, states, decisions.records)
    assert build_spend_summary(business_id, events.records, decisions.records, now=T0) == summary
    invalid = [t.finding() for t in states.invalid]
    return summary, invalid, [(b.file, b.line, b.reason) for b in events.bad_lines + decisions.bad_lines]


def same_as_full_read(config: Settings, run, business_id: str) -> None:
    summary, invalid, bad = full_read(config, business_id)
    assert run.summary == summary
    assert run.invalid_transitions == invalid
    assert [(b.file, b.line, b.reason) for b in run.bad_lines] == bad


def random_logs(rng: random.Random) -> tuple[bytes, bytes]:
    events = []
    for _ in range(rng.randrange(1, 25)):  # mostly lifecycles; a repeated id makes invalid transitions
        intent = rng.choice([f"i{rng.randrange(8)}", f"i{rng.randrange(8)}", None])
        payment = {"payment_id": f"p{rng.randrange(15)}", "amount": rng.choice(["1.5", "10", "0"]),
                   "agent": rng.choice(["a1", "a2"]), "vendor": rng.choice(["v1", "v2"])}
        statuses = (["authorized", rng.choice(["captured", "captured", "failed", "expired"])] if rng.random() < 0.8
                    else [rng.choice(PAYMENT_STATUSES)])
        for status in statuses:
            record = event(payment["payment_id"], status, at(rng.randrange(0, 600)), payment["amount"],
                           agent=payment["agent"], vendor=payment["vendor"],
                           business_id=rng.choice([*BUSINESSES, BUSINESSES[0], None]))
            if intent is not None:
                record["intent_id"] = intent
            line = (json.dumps({**record, "event_id": f"e{len(events)}"}) + "\n").encode()
            events.append(b"{bad\n" if rng.random() < 0.06 else line)
    decisions, prev = [], GENESIS_HASH
    for i in range(rng.randrange(0, 25)):
        body = {"decision_id": f"d{i}", "ts": at(rng.randrange(0, 600)), "intent_id": f"i{rng.randrange(8)}",
                "agent": "a1", "vendor": "v1", "component": rng.choice(["logo", "copy", "site", "unknown"]),
                "strategy": "s", "cost_usd": "1.000000", "business_id": rng.choice(BUSINESSES),
                "chain": "eip155:8453", "token": "USDC",
                "decision": rng.choice(["approved", "denied", "pending_review"]), "reasons": [], "policy": "x",
                "prev_hash": prev}
        prev, line = chained_line(body)
        decisions.append(b'{"not": "a decision"}\n' if rng.random() < 0.1 else line)
    return b"".join(events), b"".join(decisions)


def _paths(config: Settings) -> tuple:
    paths = (config.transactions_path, config.approval_log_path)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    return paths


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=5))
def test_runs_on_growing_logs_give_what_one_full_read_gives(tmp_path_factory, seed: int, cuts) -> None:
    rng = random.Random(seed)
    data = random_logs(rng)
    config = Settings(root=tmp_path_factory.mktemp("business-runs"))
    paths = _paths(config)
    points = [*sorted((int(a * len(data[0])), int(b * len(data[1]))) for a, b in cuts), tuple(map(len, data))]
    written = [0, 0]
    for point in points:  # cut anywhere: a torn last line is completed by the next append
        for k in (0, 1):
            end = max(written[k], point[k])
            with open(paths[k], "ab") as handle:
                handle.write(data[k][written[k]:end])
            written[k] = end
        saved = checkpoint_path(config.state_dir, READER).exists()
        business = rng.choice(BUSINESSES)
        run = run_business_summary(config, business, now=T0)
        assert run.scan == ("incremental" if saved else "full")
        same_as_full_read(config, run, business)
    again = run_business_summary(config, BUSINESSES[0], now=T0)
    assert again.lines_read == 0
    same_as_full_read(config, again, BUSINESSES[0])


def _captures(config: Settings, n: int) -> None:
    config.transactions_path.write_text("".join(
        json.dumps(event(f"p{i}", s, at(i), business_id="b1")) + "\n" for i in range(n)
        for s in ("authorized", "captured")))


def test_a_replaced_or_truncated_log_is_noticed_and_read_again(settings) -> None:
    _paths(settings)
    _captures(settings, 3)
    assert run_business_summary(settings, "b1").summary.total_spent_usd == 30
    _captures(settings, 2)  # rewritten shorter in place: the same file, truncated
    run = run_business_summary(settings, "b1", now=T0)
    assert run.scan == "full" and "truncated" in run.rescan_reason
    same_as_full_read(settings, run, "b1")
    replacement = settings.transactions_path.with_suffix(".new")
    replacement.write_text(json.dumps(event("p0", "failed", at(0), business_id="b1")) + "\n")
    replacement.replace(settings.transactions_path)
    run = run_business_summary(settings, "b1", now=T0)
    assert run.scan == "full" and "replaced" in run.rescan_reason and run.summary.total_spent_usd == 0
    same_as_full_read(settings, run, "b1")


def test_a_corrupt_checkpoint_is_named_and_answered_by_a_rescan(settings) -> None:
    _paths(settings)
    _captures(settings, 2)
    run_business_summary(settings, "b1")
    path = checkpoint_path(settings.state_dir, READER)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    run = run_business_summary(settings, "b1", now=T0)
    assert run.scan == "full" and "cannot be read" in run.rescan_reason
    assert run.summary.total_spent_usd == 20
    same_as_full_read(settings, run, "b1")
    assert run_business_summary(settings, "b1", now=T0).scan == "incremental"
    assert run_business_summary(settings, "b1", full=True).rescan_reason == "a full rescan was asked for"
