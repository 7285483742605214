"""Spend summary of one business (§4): captured money only, broken down by vendor, agent and component.

A payment counts once, with the amount of its `captured` event: the state machine's
(`ledgers.payment_states`), so a repeated capture, or one after a terminal state, is not money
spent. Its component comes from the approval decision of the payment's
`intent_id`; a captured payment with no decision on record is listed under component "unknown" so
the breakdowns still sum exactly to the total. Intent counts use each intent's latest decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from genesis_payments.core.money import from_micro
from genesis_payments.core.records import ApprovalDecision, PaymentEvent, SpendSummary
from genesis_payments.core.timestamps import utc_now
from genesis_payments.ledgers.frames import to_frame
from genesis_payments.ledgers.payment_ids import PaymentIds
from genesis_payments.ledgers.payment_states import PaymentFold
from genesis_payments.ledgers.readers import EVENT_SPEC, table_from_records

UNKNOWN_COMPONENT = "unknown"
VERDICTS = ("approved", "denied", "pending_review")  # verdict code k+1; 0: no decision yet
EVENT_COLUMNS = ("payment_id", "status", "agent", "vendor", "amount_micro", "ts", "business_id", "intent_id", "line")
_SEP = "\x1f"


def build_spend_summary(
    business_id: str,
    events: Iterable[PaymentEvent],
    decisions: Iterable[ApprovalDecision],
    *,
    now: datetime | None = None,
) -> SpendSummary:
    """The summary of `business_id` from payment events and decisions (records, in file order)."""
    frame = to_frame(table_from_records(EVENT_SPEC, list(enumerate(events, start=1))))
    fold = PaymentFold()
    fold.apply(frame)
    book = BusinessBook()
    book.add_decisions(list(decisions))
    book.add_events(frame, fold.accepted)
    return book.summary(business_id, now=now)


class BusinessBook:
    """What every business's summary needs, kept from run to run (business-summary's checkpoint).

    Per intent: the component of its first decision (any business) — `intents` codes the intent
    ids (`PaymentIds`, mapped from the checkpoint), `component` the label code of each. Per
    (business, intent): the verdict of the latest decision, and per business the count of each
    verdict among those. Per business: captured micro-USDC by vendor, agent and component. A
    capture whose intent has no decision yet is `pending` under its intent and counted as
    "unknown" until that intent's first decision arrives, which moves it to its component: so the
    book is the same whether the days were added from a whole read or run after run.
    Decisions of a read are added before its events (a whole read knows every decision)."""

    def __init__(self, extra: dict[str, Any] | None = None, sides: dict[str, pa.Table] | None = None) -> None:
        extra = extra or {"counts": {}, "spend": {}, "pending": {}, "components": [""]}
        self.counts: dict[str, dict[str, int]] = extra["counts"]
        self.spend: dict[str, dict[str, dict[str, int]]] = extra["spend"]  # business → vendor/agent/component → …
        self.pending: dict[str, dict[str, int]] = extra["pending"]  # business → intent → micro
        self.components: list[str] = extra["components"]  # code 0: no decision yet
        self._component_codes = {name: code for code, name in enumerate(self.components)}
        self.intents, self.component = PaymentIds(), np.zeros(0, dtype=np.int32)
        self.latest, self.verdict = PaymentIds(), np.zeros(0, dtype=np.int8)
        if sides:
            self.intents, self.component = _ids_from(sides["intents"], "component", np.int32)
            self.latest, self.verdict = _ids_from(sides["latest"], "verdict", np.int8)

    def to_extra(self) -> dict[str, Any]:
        return {"counts": self.counts, "spend": self.spend, "pending": self.pending, "components": self.components}

    def to_sides(self) -> dict[str, pa.Table]:
        return {"intents": pa.table({**self.intents.to_columns(), "component": self.component}),
                "latest": pa.table({**self.latest.to_columns(), "verdict": self.verdict})}

    def add_decisions(self, decisions: list[ApprovalDecision]) -> None:
        """Decisions in file order."""
        if not decisions:
            return
        intents = _encode(self.intents, [d.intent_id for d in decisions])
        self.component = _grown(self.component, len(self.intents))
        keys = _encode(self.latest, [f"{d.business_id}{_SEP}{d.intent_id}" for d in decisions])
        self.verdict = _grown(self.verdict, len(self.latest))
        decided: set[str] = set()
        for decision, intent, key in zip(decisions, intents.tolist(), keys.tolist(), strict=True):
            if not self.component[intent]:
                self.component[intent] = self._component_code(decision.component)
                decided.add(decision.intent_id)
            counts = self.counts.setdefault(decision.business_id, {})
            if self.verdict[key]:
                counts[VERDICTS[self.verdict[key] - 1]] -= 1
            counts[decision.decision] = counts.get(decision.decision, 0) + 1
            self.verdict[key] = VERDICTS.index(decision.decision) + 1
        for business, waiting in self.pending.items():  # captures whose intent was just decided
            for intent in decided.intersection(waiting):
                component = self.components[self.component[_encode(self.intents, [intent])[0]]]
                by = self.spend[business]["component"]
                by[component] = by.get(component, 0) + waiting.pop(intent)

    def add_events(self, events: pd.DataFrame, accepted: np.ndarray) -> None:
        """Events (a frame of `EVENT_COLUMNS`) and which of them the state machine accepted: each
        accepted `captured` event is one payment's spend (`captured` is terminal)."""
        if not len(events):
            return
        captured = events[accepted & (events["status"] == "captured").to_numpy() & events["business_id"].notna()
                          .to_numpy()]
        if not len(captured):
            return
        intent = captured["intent_id"].fillna("").astype(str)
        codes = _encode(self.intents, intent.tolist())
        self.component = _grown(self.component, len(self.intents))
        component = pd.Series([self.components[c] for c in self.component[codes].tolist()], index=captured.index)
        business = captured["business_id"].astype(str)
        micro = captured["amount_micro"]
        for name, by in (("vendor", captured["vendor"].astype(str)), ("agent", captured["agent"].astype(str)),
                         ("component", component)):
            known = by != ""
            for (b, key), total in micro[known].groupby([business[known], by[known]]).sum().items():
                cell = self.spend.setdefault(b, {"vendor": {}, "agent": {}, "component": {}})[name]
                cell[key] = cell.get(key, 0) + int(total)
        waiting = component == ""
        for (b, key), total in micro[waiting].groupby([business[waiting], intent[waiting]]).sum().items():
            self.spend.setdefault(b, {"vendor": {}, "agent": {}, "component": {}})
            cell = self.pending.setdefault(b, {})
            cell[key] = cell.get(key, 0) + int(total)

    def summary(self, business_id: str, *, now: datetime | None = None) -> SpendSummary:
        spend = self.spend.get(business_id, {"vendor": {}, "agent": {}, "component": {}})
        by_component = dict(spend["component"])
        if self.pending.get(business_id):
            by_component[UNKNOWN_COMPONENT] = (by_component.get(UNKNOWN_COMPONENT, 0)
                                               + sum(self.pending[business_id].values()))
        counts = self.counts.get(business_id, {})
        return SpendSummary(
            business_id=business_id,
            ts=now or utc_now(),
            total_spent_usd=from_micro(sum(spend["vendor"].values())),
            approved_intents=counts.get("approved", 0),
            denied_intents=counts.get("denied", 0),
            pending_review=counts.get("pending_review", 0),
            by_vendor=_money(spend["vendor"]),
            by_agent=_money(spend["agent"]),
            by_component=_money(by_component),
        )

    def _component_code(self, name: str) -> int:
        code = self._component_codes.get(name)
        if code is None:
            code = self._component_codes[name] = len(self.components)
            self.components.append(name)
        return code


def _encode(ids: PaymentIds, names: list[str]) -> np.ndarray:
    """Each name's code in `ids` (new names get the next codes)."""
    distinct = list(dict.fromkeys(names))
    codes = dict(zip(distinct, ids.encode(pa.array(distinct, pa.string())).tolist(), strict=True))
    return np.array([codes[name] for name in names], dtype=np.int64)


def _grown(values: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([values, np.zeros(n - len(values), dtype=values.dtype)]) if n > len(values) else values


def _ids_from(table: pa.Table, column: str, dtype: Any) -> tuple[PaymentIds, np.ndarray]:
    def array(name: str) -> Any:
        found = table.column(name)
        return found.chunk(0) if found.num_chunks == 1 else found.combine_chunks()

    ids = PaymentIds.from_columns(array("payment_id"), array("id_key").to_numpy(), array("id_code").to_numpy())
    return ids, np.array(array(column).to_numpy(), dtype=dtype)


def _money(breakdown: dict[str, int]) -> dict:
    return {key: from_micro(micro) for key, micro in sorted(breakdown.items())}


def spend_summary_table(summary: SpendSummary) -> list[dict[str, str]]:
    """Rows (breakdown, name, amount) for a Prefect table artifact."""
    data = summary.to_json_dict()
    rows = [{"breakdown": "total", "name": summary.business_id, "amount_usd": data["total_spent_usd"]}]
    for breakdown in ("by_vendor", "by_agent", "by_component"):
        for name, amount in data[breakdown].items():
            rows.append({"breakdown": breakdown.removeprefix("by_"), "name": name, "amount_usd": amount})
    return rows


def spend_summary_markdown(summary: SpendSummary) -> str:
    data = summary.to_json_dict()
    lines = [
        f"# Spend summary — {summary.business_id}",
        "",
        f"Total captured: **{data['total_spent_usd']} USDC**; intents approved {summary.approved_intents}, "
        f"denied {summary.denied_intents}, pending review {summary.pending_review}.",
        "",
        "| breakdown | name | USDC |",
        "|---|---|---|",
    ]
    for row in spend_summary_table(summary)[1:]:
        name = row["name"].replace("|", "\\|")
        lines.append(f"| {row['breakdown']} | {name} | {row['amount_usd']} |")
    return "\n".join(lines) + "\n"
