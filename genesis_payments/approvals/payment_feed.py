"""The payment events budgets follow (§8: a cancelled, failed or expired payment gives its
reservation back), read incrementally from the store in use.

`payment_event_feed(settings)` is the one place the meta agent and `SpendFollower` get them from:
`read_new()` returns the events appended since the last call (and whether the log was replaced, so
everything was read again); `changed()` is a cheap look for whether there is anything to read.
Today both stores read `transactions.jsonl`; the PostgreSQL payment events (the payments side of
§12) plug in here as a feed with the same two methods.
"""

from __future__ import annotations

import os

from genesis_payments.core.records import PaymentEvent
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.jsonl import IncrementalReader, ReadResult


class FileEventFeed:
    """`transactions.jsonl`, from where this feed last read."""

    def __init__(self, settings: Settings) -> None:
        self._reader = IncrementalReader(settings.transactions_path, PaymentEvent)
        self._identity: tuple[int, int, int] | None = None

    def changed(self) -> bool:
        """One stat: the file was written, replaced or removed since the last look."""
        try:
            found = os.stat(self._reader.path)
            identity: tuple[int, int, int] | None = (found.st_ino, found.st_size, found.st_mtime_ns)
        except FileNotFoundError:
            identity = None
        if identity == self._identity:
            return False
        self._identity = identity
        return True

    def read_new(self) -> tuple[ReadResult[PaymentEvent], bool]:
        return self._reader.read_new()

    # Where the feed is in the file, for the spend checkpoint (§5) to record and resume.
    @property
    def offset(self) -> int:
        return self._reader.offset

    @property
    def line_number(self) -> int:
        return self._reader.line_number

    def resume(self, offset: int, lines: int, identity: tuple[int, int] | None, witness: bytes) -> None:
        self._reader.resume(offset, lines, identity, witness)
        self._identity = None  # the next `changed()` looks again


def payment_event_feed(settings: Settings) -> FileEventFeed:
    return FileEventFeed(settings)
