"""The exporter's figures computed the jobs' way: the whole log at once, through the jobs' own
functions (`fold_frame`, `failure_streaks`, `stale_payment_findings`). Tests compare the exporter's
block-wise `PaymentTally` with it: one state machine, applied in batch and incrementally."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa

from genesis_payments.jobs.monitoring import failure_streaks
from genesis_payments.jobs.stale import stale_payment_findings
from genesis_payments.ledgers.payment_states import fold_frame

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def events_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows of `event_columns.EVENT_SCHEMA` as a frame like `frames.read_payment_events_frame`'s."""
    frame = pd.DataFrame({
        "payment_id": [r["payment_id"] for r in rows], "status": [r["status"] for r in rows],
        "agent": [r["agent"] for r in rows], "vendor": [r["vendor"] for r in rows],
        "amount_micro": pd.array([r["amount_micro"] for r in rows], dtype="int64"),
        "ts": pd.to_datetime([r["ts_us"] for r in rows], unit="us", utc=True),
        "valid_before": pd.to_datetime([r["valid_before_us"] for r in rows], unit="us", utc=True),
        "line": pd.array([r["line"] for r in rows], dtype="int64"),
    })
    frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
    frame["valid_before"] = frame["valid_before"].astype("datetime64[us, UTC]")
    return frame


class JobsView:
    def __init__(self, stale_after_seconds: int) -> None:
        self.stale_after_seconds = stale_after_seconds
        self.rows: list[dict] = []

    def add(self, events: pa.Table) -> None:
        self.rows += events.to_pylist()

    @property
    def events(self) -> int:
        return len(self.rows)

    @property
    def last_event_us(self) -> int | None:
        return max((r["ts_us"] for r in self.rows), default=None)

    @property
    def counts(self) -> dict[tuple[str, str, str, str], int]:
        return dict(Counter((r["agent"], r["vendor"], r["chain"], r["status"]) for r in self.rows))

    @property
    def spend_micro(self) -> dict[tuple[str, str], int]:
        spend: dict[tuple[str, str], int] = defaultdict(int)
        if not self.rows:
            return {}
        fold = fold_frame(events_frame(self.rows))
        for row, accepted in zip(self.rows, fold.accepted.tolist(), strict=True):
            if accepted and row["status"] == "captured":
                spend[(row["agent"], row["vendor"])] += row["amount_micro"]
        return dict(spend)

    def failure_streaks(self) -> dict[str, int]:
        return failure_streaks(events_frame(self.rows)) if self.rows else {}

    def stale_by_agent(self, now_us: int) -> dict[str, int]:
        stale = dict.fromkeys({r["agent"] for r in self.rows}, 0)
        if self.rows:
            now = _EPOCH + timedelta(microseconds=now_us)
            for finding in stale_payment_findings(events_frame(self.rows), now=now,
                                                  stale_after_seconds=self.stale_after_seconds):
                stale[finding["agent"]] += 1
        return stale
