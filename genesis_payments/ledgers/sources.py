"""The ledgers of the store in use (§12): the JSONL files of §2, or their tables in PostgreSQL.

`payment_events(settings)`, `finance_entries(settings)` and `spend_summaries(settings)` give one
object with the same face for both stores: `append`/`append_many` (locked, whole, durable),
`read_records()` (pydantic records and bad lines, as `read_jsonl`), and, for the jobs,
`read(columns, start=, first_line=)` (the validated Arrow columns of `readers.read_ledger`, from a
position), `position(offset, lines)` and `changed(position)` (a checkpoint's mark and whether it
still holds). `payment_event_follower(settings)` follows the payment events as they are appended
(the meta agent's and the budget follower's spend state). Every rule the jobs apply runs on what
these return; none is written twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from genesis_payments.core.records import FinanceEntry, PaymentEvent, SpendSummary
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.checkpoints import FilePosition, Position, file_changed
from genesis_payments.ledgers.jsonl import IncrementalReader, JsonlAppender, ReadResult, read_jsonl
from genesis_payments.ledgers.readers import ENTRY_SPEC, EVENT_SPEC, LedgerRead, RecordSpec, read_ledger


class Ledger(Protocol):
    name: str

    def append(self, record: BaseModel) -> None: ...
    def append_many(self, records: Sequence[BaseModel]) -> int: ...
    def read_records(self) -> ReadResult[Any]: ...
    def read(self, columns: Sequence[str] | None = None, *, start: int = 0, first_line: int = 1) -> LedgerRead: ...
    def position(self, offset: int, lines: int) -> Position: ...
    def changed(self, position: Position) -> str | None: ...


class FileLedger:
    """A JSONL file of §2."""

    def __init__(self, path: Path, model: type[BaseModel], spec: RecordSpec | None, settings: Settings) -> None:
        self.path = Path(path)
        self.model = model
        self.spec = spec
        self.root = settings.root
        self._appender = JsonlAppender(self.path, fsync=settings.fsync, root=settings.root)

    @property
    def name(self) -> str:
        return str(self.path)

    def append(self, record: BaseModel) -> None:
        self._appender.append(record)

    def append_many(self, records: Sequence[BaseModel]) -> int:
        self._appender.append_many(list(records))
        return len(records)

    def read_records(self) -> ReadResult[Any]:
        return read_jsonl(self.path, self.model, root=self.root)

    def read(self, columns: Sequence[str] | None = None, *, start: int = 0, first_line: int = 1) -> LedgerRead:
        assert self.spec is not None, "a columnar read needs the record spec"
        return read_ledger(self.path, self.spec, columns, start=start, first_line=first_line)

    def position(self, offset: int, lines: int) -> FilePosition:
        return FilePosition.of(self.path, offset, lines)

    def changed(self, position: Position) -> str | None:
        return file_changed(self.path, position)


class FileEventFollower(IncrementalReader[PaymentEvent]):
    """`transactions.jsonl` read from where the last call stopped (`IncrementalReader`)."""

    def probe(self) -> Any:
        """A cheap token that changes whenever the file may hold new lines (identity, size, mtime)."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_size, found.st_mtime_ns


def payment_event_follower(settings: Settings) -> Any:
    """The payment events appended since the last `read_new()` (records, and whether to start over),
    on the store in use; `probe()` tells cheaply whether anything may have been appended."""
    if settings.uses_postgres:
        from genesis_payments.postgres.ledgers import PgEventFollower

        return PgEventFollower(_pg(settings, "events"))  # type: ignore[arg-type]
    return FileEventFollower(settings.transactions_path, PaymentEvent)


def event_log_tail(settings: Settings) -> Any:
    """The exporter's tail of the payment events (`event_tail.EventLogTail`) on the store in use."""
    if settings.uses_postgres:
        from genesis_payments.postgres.ledgers import PgEventLogTail

        return PgEventLogTail(_pg(settings, "events"))  # type: ignore[arg-type]
    from genesis_payments.ledgers.event_tail import EventLogTail

    return EventLogTail(settings.transactions_path)


def _pg(settings: Settings, which: str) -> Ledger:
    from genesis_payments.postgres.ledgers import FINANCE_ENTRIES, PAYMENT_EVENTS, SPEND_SUMMARIES, PgLedger
    from genesis_payments.postgres.sessions import database_url

    table, model, spec = {
        "events": (PAYMENT_EVENTS, PaymentEvent, EVENT_SPEC),
        "entries": (FINANCE_ENTRIES, FinanceEntry, ENTRY_SPEC),
        "summaries": (SPEND_SUMMARIES, SpendSummary, None),
    }[which]
    return PgLedger(database_url(settings), table, model, spec, durable=settings.fsync)


def payment_events(settings: Settings) -> Ledger:
    """`transactions.jsonl`, or the `payment_events` table."""
    if settings.uses_postgres:
        return _pg(settings, "events")
    return FileLedger(settings.transactions_path, PaymentEvent, EVENT_SPEC, settings)


def finance_entries(settings: Settings) -> Ledger:
    """`finance_ledger.jsonl`, or the `finance_entries` table."""
    if settings.uses_postgres:
        return _pg(settings, "entries")
    return FileLedger(settings.finance_ledger_path, FinanceEntry, ENTRY_SPEC, settings)


def spend_summaries(settings: Settings) -> Ledger:
    """`spend_summaries.jsonl`, or the `spend_summaries` table."""
    if settings.uses_postgres:
        return _pg(settings, "summaries")
    return FileLedger(settings.spend_summaries_path, SpendSummary, None, settings)
