"""Realistic ledgers of N payments with a known set of injected problems: what later issues measure on.

    python benchmarks/generate.py --root DIR --payments N [--seed S]

Writes, under DIR (paths of contract §2):
- `data/a2a-x402/transactions/transactions.jsonl` — payment events, in time order;
- `logs/finance_ledger.jsonl` — one debit per captured payment, except where a problem is injected;
- `data/a2a-x402/fake/wallets.json` — fake wallet balances (one agent below the low-balance line);
- `expected.json` — job → finding kind → the findings a correct job must report (contract §5).

Lines are written directly in bulk in the exact on-disk form `BusinessMonitor.log_payment` and
`FinanceLedger.record` produce (canonical JSON, money strings with 6 decimals, UTC timestamps with
microseconds) — going through `log_payment` would take an fsync per line.

Time: every event lies between `as_of - days` and `as_of - 1 hour`, where `as_of` is the generation
time (floored to the second), so the ledger-sync grace period never hides a problem. Findings that
depend on the time a job runs (`age_seconds`) are given as `authorized_at`/`since` instead; the
stale and expired sets hold for any run between `as_of` and `as_of + 30 days`.

Semantics of the injected problems (each payment under at most one ledger-sync kind):
- `missing_in_ledger`: captured, no debit.
- `missing_in_transactions`: one debit whose payment id has no event at all.
- `debit_without_capture`: one debit for a payment that was authorized then cancelled.
- `duplicate_entry`: two debits for one captured payment; `amount_usd` is the captured amount (most
  duplicates repeat it, some differ, and none of them is also an `amount_mismatch`);
  `ledger_amounts_usd` lists the debits.
- `amount_mismatch`: exactly one debit, differing from the captured amount.
- `stale_authorization`: still `authorized`, with `valid_before` 30 days after `as_of`.
- `expired_authorization`: still `authorized`, past its `valid_before` (not also stale).
- `stale_settlement`: still `settlement_pending` (since at least an hour before `as_of`); `since` is
  the time of that event, from which its age is counted.
- `failure_streak`: one vendor's last 7 payments (in time order) failed, with no success after
  them; random failures elsewhere are capped at 2 in a row per vendor, so no other streak exists.
- `low_balance`: one agent's fake wallet below 50 USDC.
`N` counts distinct payment ids, the `missing_in_transactions` ones included.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TRANSACTIONS = Path("data/a2a-x402/transactions/transactions.jsonl")
FINANCE_LEDGER = Path("logs/finance_ledger.jsonl")
WALLETS = Path("data/a2a-x402/fake/wallets.json")
EXPECTED = "expected.json"

DAYS = 28
QUIET_END_SECONDS = 3600  # nothing newer than as_of - 1 h: past any ledger-sync grace period
STALE_VALID_FOR = timedelta(days=30)
STREAK_LENGTH = 7
LOW_BALANCE_MICRO = 12_340_000

AGENTS = [f"agent:{name}" for name in (
    "research-1", "research-2", "builder-1", "builder-2", "builder-3", "media-1", "media-2", "ops-1",
)]
# vendor → (weight, price list in micro-USDC; 0 means metered: a random amount)
VENDORS: dict[str, tuple[int, list[int]]] = {
    "payments:deploy:vercel": (12, [5_000_000, 20_000_000, 120_000_000]),
    "payments:deploy:fly.io": (6, [3_500_000, 15_000_000]),
    "api:search/serp": (20, [1_000, 5_000, 10_000]),
    "api:llm/openrouter": (25, [0]),
    "media:images/replicate": (10, [40_000, 250_000, 1_500_000]),
    "media:audio/elevenlabs": (5, [300_000, 990_000]),
    "data:weather/tomorrow.io": (8, [2_000, 20_000]),
    "domains:namecheap": (3, [8_880_000, 12_980_000]),
    "storage:s3/backblaze": (6, [0]),
    "api:maps/mapbox": (5, [500, 2_500]),
}
STREAK_VENDOR = "data:weather/tomorrow.io"
CHAINS = [("eip155:8453", 80), ("eip155:84532", 10), ("eip155:137", 6), ("eip155:42161", 4)]
TOKEN = "USDC"
COMPONENTS = ("frontend", "backend", "content", "research", "infra")

# Ordinary outcomes of a payment (per mille).
P_CANCELLED, P_FAILED, P_EXPIRED, P_PENDING_THEN_CAPTURED, P_PENDING_THEN_FAILED = 20, 10, 5, 30, 3


def _money(micro: int) -> str:
    whole, frac = divmod(micro, 1_000_000)
    return f"{whole}.{frac:06d}"


class _Clock:
    """Formats integer microseconds since the epoch as `format_utc` does, with a per-day cache."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, micros: int) -> str:
        seconds, us = divmod(micros, 1_000_000)
        day, in_day = divmod(seconds, 86_400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
            self._days[day] = prefix
        hours, rest = divmod(in_day, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}.{us:06d}+00:00"


def _event_line(
    event_id: str, ts: str, payment: dict[str, Any], status: str, extra: dict[str, str] | None = None
) -> str:
    # Keys in sorted order, as canonical_json writes them; every value is JSON-safe text.
    extra = extra or {}
    return (
        f'{{"agent":"{payment["agent"]}","amount_usd":"{payment["amount"]}",'
        f'"business_id":"{payment["business_id"]}","chain":"{payment["chain"]}"{_maybe(extra, "error")},'
        f'"event_id":"{event_id}"{_maybe(extra, "idempotency_key")},'
        f'"intent_id":"{payment["intent_id"]}","payment_id":"{payment["payment_id"]}",'
        f'"status":"{status}","token":"{TOKEN}","ts":"{ts}"{_maybe(extra, "tx_hash")}'
        f'{_maybe(extra, "valid_before")},"vendor":"{payment["vendor"]}"}}\n'
    )


def _maybe(extra: dict[str, str], name: str) -> str:
    value = extra.get(name)
    return "" if value is None else f',"{name}":"{value}"'


def _debit_line(entry_id: str, ts: str, payment: dict[str, Any], amount: str) -> str:
    return (
        f'{{"agent":"{payment["agent"]}","amount_usd":"{amount}","entry_id":"{entry_id}",'
        f'"kind":"debit","payment_id":"{payment["payment_id"]}","ts":"{ts}","vendor":"{payment["vendor"]}"}}\n'
    )


def _counts(payments: int) -> dict[str, int]:
    each = max(2, payments // 10_000)
    return {
        "missing_in_ledger": each,
        "missing_in_transactions": each,
        "debit_without_capture": each,
        "duplicate_entry": each,
        "amount_mismatch": each,
        "stale_authorization": each,
        "expired_authorization": each,
        "stale_settlement": each,
    }


def _plan(rng: random.Random, payments: int) -> tuple[dict[int, str], list[int]]:
    """Which payment index gets which problem; the streak takes the last indices of one vendor."""
    counts = _counts(payments)
    needed = sum(counts.values()) + STREAK_LENGTH
    if payments < max(100, 4 * needed):
        raise ValueError(f"need at least {max(100, 4 * needed)} payments to inject {needed} problems")
    # The streak: 7 of the last ~1% of indices (but never the very last few, to leave room after).
    tail = max(STREAK_LENGTH * 3, payments // 100)
    streak = sorted(rng.sample(range(payments - tail, payments - 2), STREAK_LENGTH))
    stale_pool = [i for i in range(payments - tail, payments) if i not in set(streak)]
    plan: dict[int, str] = {}
    for i in rng.sample(stale_pool, counts.pop("stale_authorization")):
        plan[i] = "stale_authorization"
    others = [i for i in range(payments - tail) if i not in plan]
    chosen = rng.sample(others, sum(counts.values()))
    position = 0
    for kind, count in counts.items():
        for i in chosen[position:position + count]:
            plan[i] = kind
        position += count
    return plan, streak


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]], size: int) -> list[Any]:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=size)


def generate(root: Path, payments: int, seed: int = 0) -> dict:
    """Write the ledgers of `payments` payments under `root`; return (and write) the expected findings."""
    started = time.perf_counter()
    root = Path(root)
    rng = random.Random(seed)
    as_of_dt = datetime.now(UTC).replace(microsecond=0)
    as_of = int(as_of_dt.timestamp()) * 1_000_000
    end = as_of - QUIET_END_SECONDS * 1_000_000
    start = end - DAYS * 86_400 * 1_000_000
    gap = (end - start) // payments
    fmt = _Clock()
    hexid = rng.getrandbits

    plan, streak = _plan(rng, payments)
    streak_set = set(streak)
    first_streak = streak[0]
    # No ordinary payment of the streak vendor in the stretch where its terminal events could land
    # between the streak's failures (a capture comes at most ~625 s after its authorization).
    streak_quiet_from = first_streak - max(50, 700_000_000 // max(gap, 1) + 1)

    vendor_names = list(VENDORS)
    vendor_pick = _weighted(rng, [(v, VENDORS[v][0]) for v in vendor_names], payments)
    chain_pick = _weighted(rng, CHAINS, payments)
    agent_pick = rng.choices(AGENTS, k=payments)
    outcome_roll = [rng.randrange(1000) for _ in range(payments)]

    expected: dict[str, dict[str, list[dict[str, Any]]]] = {
        "ledger-sync": {k: [] for k in (
            "missing_in_ledger", "missing_in_transactions", "duplicate_entry", "debit_without_capture",
            "amount_mismatch",
        )},
        "stale-payments": {k: [] for k in ("stale_authorization", "expired_authorization", "stale_settlement")},
        "monitor-alerts": {"low_balance": [], "failure_streak": []},
    }
    ls, sp = expected["ledger-sync"], expected["stale-payments"]
    totals = {"events": 0, "debits": 0, "captured_micro": 0, "debited_micro": 0, "by_status": {}}

    tx_path, ledger_path = root / TRANSACTIONS, root / FINANCE_LEDGER
    tx_path.parent.mkdir(parents=True, exist_ok=True)
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    tx_out = open(tx_path, "w", encoding="utf-8", newline="\n", buffering=1 << 22)
    ledger_out = open(ledger_path, "w", encoding="utf-8", newline="\n", buffering=1 << 22)
    pending: list[tuple[int, int, str, str]] = []  # heap of (ts, order, event line, debit lines)
    order = 0
    fail_run: dict[str, int] = dict.fromkeys(vendor_names, 0)
    business = f"biz_{hexid(32):08x}"
    by_status = totals["by_status"]

    def emit(ts: int, event: str, debits: str = "", status: str = "") -> None:
        nonlocal order
        order += 1
        heapq.heappush(pending, (ts, order, event, debits))
        if status:
            by_status[status] = by_status.get(status, 0) + 1

    def flush(until: int) -> None:
        while pending and pending[0][0] <= until:
            _, _, event, debits = heapq.heappop(pending)
            if event:
                tx_out.write(event)
                totals["events"] += 1
            if debits:
                ledger_out.write(debits)

    for i in range(payments):
        ts = start + i * gap + rng.randrange(max(gap, 1))
        flush(ts)
        kind = plan.get(i)
        if i % 40 == 0:
            business = f"biz_{hexid(32):08x}"
        vendor = vendor_pick[i]
        if i in streak_set:
            vendor = STREAK_VENDOR
        elif vendor == STREAK_VENDOR and i >= streak_quiet_from:
            vendor = vendor_names[(vendor_names.index(vendor) + 1) % len(vendor_names)]
        prices = VENDORS[vendor][1]
        price = rng.choice(prices)
        micro = price if price else rng.randrange(300, 2_500_000)
        payment = {
            "payment_id": f"pay_{hexid(96):024x}",
            "agent": agent_pick[i],
            "vendor": vendor,
            "chain": chain_pick[i],
            "amount": _money(micro),
            "business_id": business,
            "intent_id": f"int_{hexid(96):024x}",
        }
        pid = payment["payment_id"]
        ts_text = fmt(ts)

        if kind == "missing_in_transactions":
            entry_ts = ts + rng.randrange(1_000, 900_000)
            emit(entry_ts, "", _debit_line(f"ent_{hexid(96):024x}", fmt(entry_ts), payment, payment["amount"]))
            totals["debits"] += 1
            totals["debited_micro"] += micro
            ls[kind].append({"kind": kind, "payment_id": pid, "amount_usd": payment["amount"]})
            continue

        valid_before = ts + 300_000_000
        if kind == "stale_authorization":
            valid_before = as_of + int(STALE_VALID_FOR.total_seconds()) * 1_000_000
        authorized = {"idempotency_key": f"idem_{hexid(64):016x}", "valid_before": fmt(valid_before)}
        emit(ts, _event_line(f"evt_{hexid(96):024x}", ts_text, payment, "authorized", authorized), "", "authorized")

        finding = {"payment_id": pid, "agent": payment["agent"], "vendor": vendor, "amount_usd": payment["amount"]}
        if kind in ("stale_authorization", "expired_authorization"):
            sp[kind].append({"kind": kind, **finding, "authorized_at": ts_text, "valid_before": fmt(valid_before)})
            continue

        done = ts + rng.randrange(500_000, 25_000_000)
        tx_hash = f"0x{hexid(256):064x}"
        if kind == "stale_settlement":
            emit(done, _event_line(f"evt_{hexid(96):024x}", fmt(done), payment, "settlement_pending",
                                   {"tx_hash": tx_hash}), "", "settlement_pending")
            sp[kind].append({"kind": kind, **finding, "authorized_at": ts_text, "since": fmt(done)})
            continue
        if kind == "debit_without_capture":
            emit(done, _event_line(f"evt_{hexid(96):024x}", fmt(done), payment, "cancelled"), "", "cancelled")
            entry_ts = done + rng.randrange(1_000, 600_000_000)
            emit(entry_ts, "", _debit_line(f"ent_{hexid(96):024x}", fmt(entry_ts), payment, payment["amount"]))
            totals["debits"] += 1
            totals["debited_micro"] += micro
            ls[kind].append({"kind": kind, "payment_id": pid, "amount_usd": payment["amount"]})
            continue

        # An ordinary outcome, unless a problem of the ledger side or the streak is planned.
        roll = outcome_roll[i] if kind is None else 999
        if i in streak_set:
            outcome = "failed"
        elif roll < P_CANCELLED:
            outcome = "cancelled"
        elif roll < P_CANCELLED + P_FAILED:
            outcome = "failed"
        elif roll < P_CANCELLED + P_FAILED + P_EXPIRED:
            outcome = "expired"
        elif roll < P_CANCELLED + P_FAILED + P_EXPIRED + P_PENDING_THEN_CAPTURED:
            outcome = "pending_captured"
        elif roll < P_CANCELLED + P_FAILED + P_EXPIRED + P_PENDING_THEN_CAPTURED + P_PENDING_THEN_FAILED:
            outcome = "pending_failed"
        else:
            outcome = "captured"
        failing = outcome in ("failed", "pending_failed")
        if failing and i not in streak_set and (fail_run[vendor] >= 2 or vendor == STREAK_VENDOR):
            # Ordinary failures stay well short of a streak, and the streak vendor's is exactly 7.
            outcome = "captured"
        if outcome in ("pending_captured", "pending_failed"):
            emit(done, _event_line(f"evt_{hexid(96):024x}", fmt(done), payment, "settlement_pending",
                                   {"tx_hash": tx_hash}), "", "settlement_pending")
            done += rng.randrange(5_000_000, 600_000_000)
            outcome = "captured" if outcome == "pending_captured" else "failed"
        if outcome == "failed":
            fail_run[vendor] += 1
            emit(done, _event_line(f"evt_{hexid(96):024x}", fmt(done), payment, "failed",
                                   {"error": "facilitator settle failed: insufficient_funds"
                                    if rng.random() < 0.5 else "vendor timeout after 30s"}), "", "failed")
            continue
        if outcome in ("cancelled", "expired"):
            closed = done if outcome == "cancelled" else valid_before + 1_000_000
            emit(closed, _event_line(f"evt_{hexid(96):024x}", fmt(closed), payment, outcome), "", outcome)
            continue

        fail_run[vendor] = 0
        totals["captured_micro"] += micro
        entry_ts = done + rng.randrange(1_000, 2_000_000)
        debits = ""
        if kind is None:
            debits = _debit_line(f"ent_{hexid(96):024x}", fmt(entry_ts), payment, payment["amount"])
            totals["debited_micro"] += micro
            totals["debits"] += 1
        elif kind == "missing_in_ledger":
            ls[kind].append({"kind": kind, "payment_id": pid, "amount_usd": payment["amount"]})
        elif kind == "amount_mismatch":
            delta = max(1, micro // rng.choice([2, 10, 1000]))
            other = micro - delta if micro - delta >= 1 and rng.random() < 0.5 else micro + delta
            debits = _debit_line(f"ent_{hexid(96):024x}", fmt(entry_ts), payment, _money(other))
            totals["debited_micro"] += other
            totals["debits"] += 1
            ls[kind].append({"kind": kind, "payment_id": pid, "transaction_amount_usd": payment["amount"],
                             "ledger_amount_usd": _money(other)})
        elif kind == "duplicate_entry":
            second = micro if rng.random() < 0.8 else micro + rng.randrange(1, 1_000_000)
            again = entry_ts + rng.randrange(1_000_000, 60_000_000)
            debits = (_debit_line(f"ent_{hexid(96):024x}", fmt(entry_ts), payment, payment["amount"])
                      + _debit_line(f"ent_{hexid(96):024x}", fmt(again), payment, _money(second)))
            totals["debited_micro"] += micro + second
            totals["debits"] += 2
            ls[kind].append({"kind": kind, "payment_id": pid, "amount_usd": payment["amount"],
                             "ledger_amounts_usd": [payment["amount"], _money(second)]})
        emit(done, _event_line(f"evt_{hexid(96):024x}", fmt(done), payment, "captured", {"tx_hash": tx_hash}),
             debits, "captured")

    flush(as_of)
    tx_out.close()
    ledger_out.close()

    expected["monitor-alerts"]["failure_streak"].append(
        {"kind": "failure_streak", "vendor": STREAK_VENDOR, "streak": STREAK_LENGTH})
    wallets = {agent: _money(rng.randrange(500_000_000, 5_000_000_000)) for agent in AGENTS}
    low_agent = AGENTS[-1]
    wallets[low_agent] = _money(LOW_BALANCE_MICRO)
    expected["monitor-alerts"]["low_balance"].append(
        {"kind": "low_balance", "agent": low_agent, "balance_usd": _money(LOW_BALANCE_MICRO)})
    wallets_path = root / WALLETS
    wallets_path.parent.mkdir(parents=True, exist_ok=True)
    wallets_path.write_text(json.dumps(wallets, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    result: dict[str, Any] = {
        "seed": seed,
        "payments": payments,
        "as_of": fmt(as_of),
        "valid_until": fmt(as_of + int(STALE_VALID_FOR.total_seconds()) * 1_000_000),
        "files": {"transactions": str(TRANSACTIONS), "finance_ledger": str(FINANCE_LEDGER), "wallets": str(WALLETS)},
        "totals": {
            "events": totals["events"],
            "debits": totals["debits"],
            "events_by_status": dict(sorted(by_status.items())),
            "captured_usd": _money(totals["captured_micro"]),
            "debited_usd": _money(totals["debited_micro"]),
        },
        **expected,
        "counts": {job: {k: len(v) for k, v in kinds.items()} for job, kinds in expected.items()},
        "seconds": round(time.perf_counter() - started, 2),
    }
    (root / EXPECTED).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder to write the ledgers under")
    parser.add_argument("--payments", type=int, required=True, help="number of payments (at least a few hundred)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        result = generate(args.root, args.payments, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {result['payments']:,} payments under {args.root} in {result['seconds']} s "
          f"({result['totals']['events']:,} events, {result['totals']['debits']:,} debits, as of {result['as_of']})")
    for job, kinds in result["counts"].items():
        print(f"  {job}: " + ", ".join(f"{kind}={count}" for kind, count in kinds.items()))
    print(f"  expected findings: {args.root / EXPECTED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
