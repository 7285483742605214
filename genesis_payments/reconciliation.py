"""Ledger-sync (§5): captured payments against finance debits, both directions, exact money.

A pure function over two frames (from `frames.py`): payment events and finance entries. Each
payment id lands under one finding kind at most, checked in this order:

1. `missing_in_transactions` — ledger entries for a payment id with no event at all;
2. `debit_without_capture` — ledger entries for a payment whose events never reached `captured`;
3. `missing_in_ledger` — captured, but no debit;
4. `duplicate_entry` — captured, more than one debit (not also an `amount_mismatch`);
5. `amount_mismatch` — captured, one debit, and the ledger's amount net of refunds differs from
   the captured amount.

The ledger amount of a payment is its debits minus its refunds, so a correcting refund entry
reconciles. A payment with any event or entry newer than `now - grace` is left out entirely and
counted as deferred: the capture and its debit are written moments apart, and judging one side
without the other would report a discrepancy that is only in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from genesis_payments.money import format_usd, from_micro

LEDGER_SYNC_KINDS = (
    "missing_in_ledger",
    "missing_in_transactions",
    "duplicate_entry",
    "debit_without_capture",
    "amount_mismatch",
)
EVENT_COLUMNS_NEEDED = ("payment_id", "status", "amount_micro", "ts")
ENTRY_COLUMNS_NEEDED = ("payment_id", "kind", "amount_micro", "ts")


@dataclass
class Reconciliation:
    counts: dict[str, int]
    findings: list[dict[str, Any]]
    checked: dict[str, int] = field(default_factory=dict)


def reconcile(events: pd.DataFrame, entries: pd.DataFrame, *, now: datetime, grace_seconds: int) -> Reconciliation:
    """Every ledger-sync finding between the payment events and the finance entries."""
    cutoff = pd.Timestamp(now - timedelta(seconds=grace_seconds))
    codes, uniques = _payment_codes(events["payment_id"], entries["payment_id"])
    n = len(uniques)
    event_codes, entry_codes = codes[: len(events)], codes[len(events):]

    last_touch = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    last_touch = _max_by(last_touch, event_codes, events["ts"])
    last_touch = _max_by(last_touch, entry_codes, entries["ts"])
    settled = ~(last_touch > cutoff.to_datetime64())  # NaT compares False: no time means no wait

    has_event = np.bincount(event_codes, minlength=n) > 0
    captured_rows = (events["status"] == "captured").to_numpy(dtype=bool)
    # The latest captured event's amount (file order), for the rare payment captured twice.
    capture_rows = np.flatnonzero(captured_rows)
    last_capture = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_capture, event_codes[capture_rows], capture_rows)
    captured = last_capture >= 0
    captured_micro = np.where(captured, events["amount_micro"].to_numpy(dtype=np.int64)[last_capture], 0)

    amounts = entries["amount_micro"].to_numpy(dtype=np.int64)
    is_debit = (entries["kind"] == "debit").to_numpy(dtype=bool)
    debit_count = np.bincount(entry_codes[is_debit], minlength=n)
    entry_count = np.bincount(entry_codes, minlength=n)
    net_micro = _sum_by(n, entry_codes, np.where(is_debit, amounts, -amounts))

    has_entry = entry_count > 0
    kind_masks = {
        "missing_in_transactions": settled & has_entry & ~has_event,
        "debit_without_capture": settled & has_entry & has_event & ~captured,
        "missing_in_ledger": settled & captured & (debit_count == 0),
        "duplicate_entry": settled & captured & (debit_count > 1),
        "amount_mismatch": settled & captured & (debit_count == 1) & (net_micro != captured_micro),
    }
    findings: list[dict[str, Any]] = []
    for kind, mask in kind_masks.items():
        for code in np.flatnonzero(mask):
            findings.append(_finding(kind, uniques[int(code)].as_py(), int(captured_micro[code]),
                                     int(net_micro[code]), int(debit_count[code])))
    findings.sort(key=lambda f: (f["payment_id"], f["kind"]))
    checked = {
        "payments": int((settled & (has_event | has_entry)).sum()),
        "deferred_payments": int((~settled).sum()),
        "events": len(events),
        "entries": len(entries),
    }
    return Reconciliation({k: int(m.sum()) for k, m in kind_masks.items()}, findings, checked)


def _finding(kind: str, payment_id: str, captured_micro: int, ledger_micro: int, debits: int) -> dict[str, Any]:
    captured, ledger = format_usd(from_micro(captured_micro)), format_usd(from_micro(ledger_micro))
    if kind == "amount_mismatch":
        return {"kind": kind, "payment_id": payment_id, "transaction_amount_usd": captured,
                "ledger_amount_usd": ledger}
    if kind == "missing_in_ledger":
        return {"kind": kind, "payment_id": payment_id, "amount_usd": captured}
    finding = {"kind": kind, "payment_id": payment_id, "amount_usd": ledger}
    if kind == "duplicate_entry":
        finding.update(debits=debits, transaction_amount_usd=captured)
    return finding


def _payment_codes(*ids: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """One integer code per payment id across all the series, and the ids by code.

    Dictionary columns whose dictionaries extend one another (frames read with one shared `IdCodes`)
    are coded already. Otherwise Arrow's dictionary encoding over the strings' own chunks: no copy of
    the ids, int32 codes, and a good deal less memory than `pd.factorize` on their concatenation.
    """
    shared = _shared_dictionary(ids)
    if shared is not None:
        codes = [_as_array(s.array).indices.to_numpy(zero_copy_only=False) for s in ids]
        return np.concatenate(codes).astype(np.int32, copy=False), shared
    chunks = [chunk for series in ids for chunk in _chunks(series)]
    if not chunks or not sum(len(c) for c in chunks):
        return np.zeros(0, dtype=np.int32), pa.array([], type=pa.string())
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string()))
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks])
    # Every chunk shares the one memo table, so the last chunk's dictionary holds every id.
    return codes, encoded.chunk(encoded.num_chunks - 1).dictionary


def _shared_dictionary(ids: tuple[pd.Series, ...]) -> pa.Array | None:
    """The longest dictionary, when every series is an Arrow dictionary column over a prefix of it
    (frames read with one `IdCodes`); else None."""
    arrays = []
    for series in ids:
        dtype = series.dtype
        if not (isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype)):
            return None
        arrays.append(_as_array(series.array))
    longest = max((a.dictionary for a in arrays), key=len)
    if all(longest.slice(0, len(a.dictionary)).equals(a.dictionary) for a in arrays):
        return longest
    return None


def _as_array(values: Any) -> pa.Array:
    array = pa.array(values)  # zero-copy for pandas' Arrow-backed strings
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _chunks(series: pd.Series) -> list[pa.Array]:
    array = pa.array(series.array, type=pa.string())  # zero-copy for pandas' Arrow-backed strings
    return list(array.chunks) if isinstance(array, pa.ChunkedArray) else [array]


def _max_by(current: np.ndarray, codes: np.ndarray, times: pd.Series) -> np.ndarray:
    """Latest time per code, folded into `current` (NaT where a code has none)."""
    if not len(codes):
        return current
    values = times.to_numpy(dtype="datetime64[us]").view(np.int64)
    latest = current.view(np.int64).copy()
    latest[np.isnat(current)] = np.iinfo(np.int64).min
    np.maximum.at(latest, codes, values)
    return np.where(latest == np.iinfo(np.int64).min, np.datetime64("NaT"), latest.view("datetime64[us]"))


def _sum_by(n: int, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Exact int64 sums per code (np.bincount would go through float64)."""
    total = np.zeros(n, dtype=np.int64)
    np.add.at(total, codes, values)
    return total
