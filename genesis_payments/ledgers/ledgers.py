"""The playbook's two ledgers: `BusinessMonitor` (payment events) and `FinanceLedger` (accounting).

Both write to the store in use (`sources`): the JSONL files of §2, or PostgreSQL with
`GENESIS_DATABASE_URL` set; the records, validation and guarantees are the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from genesis_payments.core.errors import InvalidRecord
from genesis_payments.core.records import FinanceEntry, PaymentEvent, Record
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now
from genesis_payments.ledgers.jsonl import ReadResult, describe_validation_error
from genesis_payments.ledgers.sources import finance_entries, payment_events

M = TypeVar("M", bound=Record)


def coerce_record(model: type[M], value: M | Mapping[str, Any], id_field: str) -> M:
    """Validate a model or a plain dict; a dict may leave out its id and `ts`, which are filled in."""
    if isinstance(value, model):
        return value
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"{model.__name__} must be a {model.__name__} or a dict, not {type(value).__name__}")
    data = dict(value)
    if id_field not in data:
        data[id_field] = os.urandom(16).hex()  # 128 random bits, as uuid4().hex without its overhead
    if "ts" not in data:
        data["ts"] = utc_now()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRecord(f"invalid {model.__name__}: {describe_validation_error(exc)}") from None


class BusinessMonitor:
    """Every payment event goes through `log_payment` into `transactions.jsonl`."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._ledger = payment_events(self.settings)

    def log_payment(self, event: PaymentEvent | Mapping[str, Any]) -> PaymentEvent:
        record = coerce_record(PaymentEvent, event, "event_id")
        self._ledger.append(record)
        return record

    @property
    def where(self) -> str:
        """The log in use, for messages: the file, or the PostgreSQL table."""
        return self._ledger.name

    def read_events(self) -> ReadResult[PaymentEvent]:
        return self._ledger.read_records()


class FinanceLedger:
    """Accounting entries in `logs/finance_ledger.jsonl`: one debit per captured payment."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._ledger = finance_entries(self.settings)

    def record(self, entry: FinanceEntry | Mapping[str, Any]) -> FinanceEntry:
        record = coerce_record(FinanceEntry, entry, "entry_id")
        self._ledger.append(record)
        return record

    def read_entries(self) -> ReadResult[FinanceEntry]:
        return self._ledger.read_records()
