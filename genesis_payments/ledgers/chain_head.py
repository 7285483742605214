"""The highest head of the approval log anyone has seen: a hash chain protects its middle, not its end.

Every appender (under the log's lock, after its line is on disk) and every `audit verify` records
the head it saw — line count and hash — in `data/a2a-x402/state/approval_log_head.json`, and only
ever moves it forward. A log now shorter than that head, or whose line at that count has another
hash, lost its end (lines deleted, the file emptied or replaced): `audit verify` reports it and no
new record is appended to it. Rotating the log on purpose means moving this file away with it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.files import read_json_file
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now


@dataclass(frozen=True)
class Head:
    lines: int
    hash: str
    seen_at: str

    def describe(self) -> str:
        return f"line {self.lines} (hash {self.hash[:12]}…) was there at {self.seen_at}"


def head_path(settings: Settings) -> Path:
    return settings.state_dir / "approval_log_head.json"


def read_head(path: Path) -> Head | None:
    """The recorded head, or None (none yet, or a file that is not one: it is then rewritten)."""
    try:
        found = read_json_file(path, default=None)
    except LedgerError:
        return None
    if not isinstance(found, dict):
        return None
    lines, digest, seen_at = found.get("lines"), found.get("hash"), found.get("seen_at", found.get("verified_at"))
    if not isinstance(lines, int) or lines < 1 or not isinstance(digest, str):
        return None
    return Head(lines, digest, str(seen_at))


def record_head(path: Path, lines: int, digest: str) -> None:
    """Move the recorded head forward to (lines, digest); never backwards (a reader without the lock)."""
    current = read_head(path)
    if lines >= 1 and (current is None or current.lines < lines):
        write_head(path, lines, digest)


def write_head(path: Path, lines: int, digest: str) -> None:
    """Record (lines, digest) as the head; an appender calls this under the log's lock, after its line
    is on disk, when it has read every line (so no head it could overwrite is higher).

    One small write in place, padded to a fixed size, and no fsync: the head is a lower bound, so a
    write lost in a crash only makes it lag, never lie — and an fsync or a rename here would cost as
    much as the decision's own append. A failed write is ignored likewise.
    """
    data = json.dumps({"lines": lines, "hash": digest, "seen_at": format_utc(utc_now())}).encode()
    with contextlib.suppress(OSError):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data.ljust(_HEAD_BYTES), 0)
            if os.fstat(fd).st_size > _HEAD_BYTES:  # a longer file of an older version
                os.ftruncate(fd, _HEAD_BYTES)
        finally:
            os.close(fd)


_HEAD_BYTES = 192  # longer than any head record: each write covers the whole previous one


def moved_backwards(head: Head | None, lines: int, hash_at_head: str | None) -> str | None:
    """Why a log of `lines` lines (whose line `head.lines` has `hash_at_head`) lost its end, or None."""
    if head is None:
        return None
    if lines < head.lines:
        what = "the log is empty" if lines == 0 else f"the log ends at line {lines}"
        return f"head moved backwards: {what}, but {head.describe()}: lines were removed from the end"
    if hash_at_head != head.hash:
        return f"head moved backwards: {head.describe()}, but that line is now another record (the log was replaced)"
    return None
