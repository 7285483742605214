"""The approval log (§4, §8): one record per line, each chained to the one before by SHA-256.

`hash` is the hex SHA-256 of the record without `hash`, as canonical JSON; the first record's
`prev_hash` is 64 zeros. Appends compute the chain under the file's lock, so concurrent writers in
several processes still produce one unbroken chain.

Most lines are decisions. Operator controls are records of the same chain, told apart by `kind`
(a decision has none): `halt`, `resume` and `policy_change` (schemas in `core/records.py` and
docs/records.md). Readers of decisions skip them; `audit verify` checks them like any line.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.files import open_regular
from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.ledgers.chain_head import Head, head_path, moved_backwards, read_head, write_head
from genesis_payments.ledgers.checkpoints import FilePosition, Position, file_changed
from genesis_payments.ledgers.jsonl import (
    BadLine,
    BadLineError,
    ReadResult,
    canonical_json,
    decode_line,
    describe_validation_error,
    iter_lines,
    iter_lines_reversed,
    validate_line,
    write_whole,
)

T = TypeVar("T")
GENESIS_HASH = "0" * 64
CONTROL_KINDS = frozenset({"halt", "resume", "policy_change"})
_READ_CHUNK = 8 << 20


def decision_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, `hash` left out."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def chained_line(body: Mapping[str, Any]) -> tuple[str, bytes]:
    """(hash, the `\\n`-terminated canonical line with `hash` in it) of a record without `hash`."""
    digest = decision_hash(body)
    return digest, (canonical_json({**body, "hash": digest}) + "\n").encode("utf-8")


def decision_body(fields: Mapping[str, Any], prev_hash: str) -> tuple[ApprovalDecision, dict[str, Any]]:
    """(the validated decision with a placeholder hash, its record without `hash`) for an append of
    `fields` onto `prev_hash` (`decision_id` and `ts` filled in where missing)."""
    record = dict(fields)
    record.setdefault("decision_id", uuid.uuid4().hex)
    record.setdefault("ts", format_utc(utc_now()))
    record["prev_hash"] = prev_hash
    record.pop("hash", None)
    draft = ApprovalDecision.model_validate({**record, "hash": GENESIS_HASH})
    body = draft.to_json_dict()
    del body["hash"]
    return draft, body


def latest_per_intent(decisions: Iterable[ApprovalDecision]) -> dict[str, ApprovalDecision]:
    """The last decision of each intent, of decisions in chain order."""
    return {decision.intent_id: decision for decision in decisions}


def is_control(record: Mapping[str, Any]) -> bool:
    """A halt, resume or policy-change line (or a kind a later version adds) rather than a decision."""
    return record.get("kind") is not None


def last_hash(path: Path) -> str:
    """`hash` of the file's last complete line, or 64 zeros for an empty or missing file."""
    try:
        for raw in iter_lines_reversed(path):
            if raw.strip():
                try:
                    return str(decode_line(raw)["hash"])
                except (BadLineError, KeyError):
                    break  # a broken last line: `audit verify` reports it
    except FileNotFoundError:
        pass
    return GENESIS_HASH


def _require_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise LedgerError(f"{path} is not a regular file; move it away (the approval log must be a plain file)")


class LogView:
    """An open descriptor on the log and its size when opened (or locked): what a reader may read.

    The store-neutral part (`follow`, `record_at`, `find_decision`; `append_record` on the handle)
    is what the meta agent, halts and budget followers use; `postgres/approval_log.py` has the twin.
    """

    locked = False

    def __init__(self, fd: int, path: Path, size: int, identity: tuple[int, int]) -> None:
        self.fd = fd
        self.path = path
        self.size = size
        self.identity = identity

    def follow(self, tail: ChainTail, apply: Callable[[dict[str, Any], int, int], None],
               on_reset: Callable[[], None] | None = None,
               warm_start: Callable[[LogView, Head | None], bool] | None = None) -> None:
        """Hand every record after `tail` to `apply` in chain order; a log replaced, rotated or cut is
        read again from the top after `on_reset()`, unless `warm_start(view, recorded_head)` set the
        tail and the reader's state from a checkpoint that still describes this file (§5). Under the
        lock, the log must still reach the highest head recorded (`tail.broken` says otherwise)."""
        if tail.needs_reset(self):
            head = self._recorded_head()
            if warm_start is None or not warm_start(self, head):
                tail.reset_to(self.identity, head)
                if on_reset is not None:
                    on_reset()
        tail.follow(self, apply)
        if self.locked:
            tail.check_head()

    def _recorded_head(self) -> Head | None:
        return None

    def record_at(self, offset: int, length: int) -> bytes:
        """The line (without its newline) at a location `apply` was given."""
        return os.pread(self.fd, length, offset).rstrip(b"\n")

    def find_decision(self, decision_id: str) -> dict[str, Any] | None:
        """The decision with this `decision_id` (a whole-log scan: reviews by decision id are rare)."""
        needle = decision_id.encode()
        for _, raw, complete in iter_lines(self.path):
            if complete and needle in raw:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("decision_id") == decision_id:
                    return record
        return None

    def read_from(self, offset: int, limit: int | None = None) -> bytes:
        """Bytes from `offset` up to the size seen when the view was taken."""
        if offset >= self.size:
            return b""
        length = self.size - offset if limit is None else min(limit, self.size - offset)
        try:
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from exc


class LogHandle(LogView):
    """The held lock on the approval log: reads, and durable appends of whole lines."""

    locked = True

    def __init__(self, fd: int, path: Path, size: int, identity: tuple[int, int], fsync: bool,
                 head: Path | None = None) -> None:
        super().__init__(fd, path, size, identity)
        self._fsync = fsync
        self._head = head

    def _recorded_head(self) -> Head | None:
        return read_head(self._head) if self._head is not None else None

    def append_record(self, tail: ChainTail, body: Mapping[str, Any]) -> tuple[str, int, int]:
        """Chain `body` (a record without `hash`, its `prev_hash` = `tail.last_hash`) onto the log after
        `tail`, which has followed it to the end under this lock; returns (hash, offset, length)."""
        tail.refuse_if_broken(self.path)
        self.drop_torn_tail(tail.offset)
        digest, line = chained_line(body)
        offset, length = self.write_line(line)
        tail.offset, tail.lines, tail.last_hash = self.size, tail.lines + 1, digest
        if self._head is not None:
            write_head(self._head, tail.lines, digest)
        return digest, offset, length

    def drop_torn_tail(self, offset: int) -> None:
        """Cut a last line without its newline (a writer killed mid-append, never acknowledged).

        A fragment left in place would sit in the middle of the chain once the next record follows
        it, and every later `audit verify` would stop there.
        """
        if offset < self.size:
            os.ftruncate(self.fd, offset)
            self.size = offset

    def write_line(self, line: bytes) -> tuple[int, int]:
        """Append one line, durably; returns (offset, length). A failed write leaves the file as it was."""
        offset = self.size
        write_whole(self.fd, self.path, line, offset, self._fsync)  # cut back to `offset` on failure
        self.size += len(line)
        return offset, len(line)


class ApprovalLog:
    """Appends and reads `approval_log.jsonl`."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.path = self.settings.approval_log_path
        # `flock` does not exclude threads of one process that share a descriptor.
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._fd_owner = -1  # the pid that opened `_fd`: a forked child opens its own (and its own flock)
        self._fd_identity: tuple[int, int] = (-1, -1)

    @contextlib.contextmanager
    def locked(self) -> Iterator[LogHandle]:
        """The log's exclusive lock, for a record whose rules must be checked and appended atomically.

        The descriptor stays open from one lock to the next; under the lock the path must still name
        it, or the path is opened again (the log was rotated, replaced or deleted meanwhile).
        """
        with self._thread_lock:
            fd = self._descriptor()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self._path_identity() != self._fd_identity:
                    self.close()
                    fd = self._descriptor()
                    fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                yield LogHandle(fd, self.path, size, self._fd_identity, self.settings.fsync, head_path(self.settings))
            finally:
                if self._fd == fd:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    store = "files"

    @property
    def where(self) -> str:
        """Which log this is, for a process's caches (the file's path)."""
        return str(self.path)

    def run_locked(self, work: Callable[[LogHandle], T], keys: Iterable[str] = ()) -> T:
        """`work(handle)` under the log's lock: its checks and appends are one atomic step (`keys`,
        the budget keys concerned, matter only to PostgreSQL's `advisory` locking)."""
        with self.locked() as handle:
            return work(handle)

    def new_tail(self) -> ChainTail:
        """A reader's position in this log (for `LogView.follow`)."""
        return ChainTail()

    def _descriptor(self) -> int:
        if self._fd is not None and self._fd_owner != os.getpid():
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                # A regular file inside the root: never a FIFO (it would block), a loop or a link out of it.
                fd = open_regular(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, root=self.settings.root)
            except OSError as exc:
                raise LedgerError(f"cannot open {self.path} for appending: {exc.strerror}") from exc
            found = os.fstat(fd)
            try:
                _require_regular(self.path, found.st_mode)
            except LedgerError:
                os.close(fd)
                raise
            self._fd, self._fd_owner, self._fd_identity = fd, os.getpid(), (found.st_dev, found.st_ino)
        return self._fd

    def _path_identity(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (found.st_dev, found.st_ino)

    def close(self) -> None:
        """Close the descriptor kept between locks."""
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    @contextlib.contextmanager
    def viewed(self) -> Iterator[LogView | None]:
        """A read-only view of the log (None when there is none): reads never open it for writing."""
        try:
            fd = open_regular(self.path, os.O_RDONLY, root=self.settings.root)
        except FileNotFoundError:
            yield None
            return
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from exc
        try:
            found = os.fstat(fd)
            _require_regular(self.path, found.st_mode)
            yield LogView(fd, self.path, found.st_size, (found.st_dev, found.st_ino))
        finally:
            os.close(fd)

    def append_locked(self, handle: LogHandle, fields: Mapping[str, Any], prev_hash: str) -> ApprovalDecision:
        """Chain the decision `fields` onto `prev_hash` and append it; the caller holds the lock."""
        draft, body = decision_body(fields, prev_hash)
        digest, line = chained_line(body)
        handle.write_line(line)
        return draft.model_copy(update={"hash": digest})

    def append(self, fields: Mapping[str, Any]) -> ApprovalDecision:
        """Append one decision, chained onto the current last line (refused on a broken chain)."""
        head = head_path(self.settings)
        with self.locked() as handle:
            tail = ChainTail()
            tail.reset_to(handle.identity, read_head(head))
            tail.follow(handle, lambda _record, _offset, _length: None)
            tail.check_head()
            tail.refuse_if_broken(self.path)
            handle.drop_torn_tail(tail.offset)
            decision = self.append_locked(handle, fields, tail.last_hash)
            write_head(head, tail.lines + 1, decision.hash)
            return decision

    def read(self) -> ReadResult[ApprovalDecision]:
        """Every decision (control records skipped) and every bad line."""
        return self.read_since(0, 0)[0]

    def read_since(self, offset: int, lines: int) -> tuple[ReadResult[ApprovalDecision], int, int]:
        """The decisions and bad lines after byte `offset` (`lines` lines before it), and the offset
        and line count after the last complete line read (a torn last line is reported, not passed)."""
        result: ReadResult[ApprovalDecision] = ReadResult()
        if not self.path.exists():
            return result, offset, lines
        try:
            for number, (end, raw, complete) in enumerate(iter_lines(self.path, offset), start=lines + 1):
                if not complete:
                    torn = "incomplete last line (no newline): a torn write"
                    result.bad_lines.append(BadLine(str(self.path), number, torn))
                    break
                offset, lines = end, number
                try:
                    record = decode_line(raw)
                    if not is_control(record):
                        result.records.append(ApprovalDecision.model_validate(record))
                except BadLineError as exc:
                    result.bad_lines.append(BadLine(str(self.path), number, str(exc)))
                except ValidationError as exc:
                    result.bad_lines.append(BadLine(str(self.path), number, describe_validation_error(exc)))
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from exc
        return result, offset, lines

    # Where a job's read of the decisions stopped (§5), for its checkpoint.
    def position(self, offset: int, lines: int) -> FilePosition:
        return FilePosition.of(self.path, offset, lines)

    def changed(self, position: Position) -> str | None:
        return file_changed(self.path, position)

    def latest_decisions(self) -> dict[str, ApprovalDecision]:
        """The newest decision for each intent (a review's resolution replaces `pending_review`)."""
        return latest_per_intent(self.read().records)

    def latest_decision(self, intent_id: str) -> ApprovalDecision | None:
        """The newest decision of one intent, read backwards from the end of the log.

        Every authorization asks this, so it must not re-read a log of millions of lines: only
        lines that contain the intent id as a JSON string are parsed.
        """
        needle = json.dumps(intent_id, ensure_ascii=False).encode("utf-8")
        try:
            for raw in iter_lines_reversed(self.path):
                if needle not in raw:
                    continue
                try:
                    decision = validate_line(raw, ApprovalDecision)
                except BadLineError:
                    continue
                if decision.intent_id == intent_id and not is_control(decision.model_extra or {}):
                    return decision
        except FileNotFoundError:
            pass
        return None


class ChainTail:
    """Follows the log from where it last read: line count, last hash, and the first break in the chain.

    Every record is handed to `apply(record, offset, length)` in file order. Only the links are
    checked here (a JSON object with a `hash`, whose `prev_hash` is the hash before it): enough to
    notice lines removed, inserted, reordered or garbled; recomputing every hash is `audit verify`'s
    job. A log replaced, rotated or cut shorter is read again from the top (`reset()` says so).
    """

    def __init__(self) -> None:
        self.reset_to(None)

    def reset_to(self, identity: tuple[int, int] | None, head: Head | None = None) -> None:
        """Start again from the top; `head` is the highest head recorded, checked by `check_head`."""
        self.identity = identity
        self.offset = 0
        self.lines = 0
        self.last_hash = GENESIS_HASH
        self.broken: str | None = None
        self.head = head
        self.hash_at_head: str | None = None

    def check_head(self) -> None:
        """After following to the end under the lock: a log shorter than the recorded head is broken."""
        if self.head is not None and self.broken is None:
            self.broken = moved_backwards(self.head, self.lines, self.hash_at_head)
        self.head = None  # checked once per read from the top; later lines are this reader's own

    def needs_reset(self, view: LogView) -> bool:
        return view.identity != self.identity or view.size < self.offset

    def follow(self, view: LogView, apply: Callable[[dict[str, Any], int, int], None]) -> None:
        """Read complete lines appended since the last call (in chunks: a log may be huge)."""
        while self.offset < view.size:
            data = view.read_from(self.offset, _READ_CHUNK)
            end = data.rfind(b"\n") + 1
            if end == 0:  # a torn tail (no newline) is not a record yet
                if len(data) < _READ_CHUNK:
                    return
                raise LedgerError(f"{view.path}: a line longer than {_READ_CHUNK} bytes at byte {self.offset}")
            position = self.offset
            for raw in data[:end].split(b"\n")[:-1]:
                self.lines += 1
                self._link(raw, position, apply, view.path)
                position += len(raw) + 1
            self.offset += end

    def _link(self, raw: bytes, offset: int, apply: Callable[[dict[str, Any], int, int], None], path: Path) -> None:
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("hash"), str):
            self._break("not a record of the chain (not a JSON object with a hash)")
            return
        if self.head is not None and self.lines == self.head.lines:
            self.hash_at_head = record["hash"]
        if record.get("prev_hash") != self.last_hash:
            self._break("prev_hash does not match the line before (a line was removed, inserted or reordered)")
        self.last_hash = record["hash"]
        try:
            apply(record, offset, len(raw) + 1)
        except (KeyError, TypeError, ValueError, AttributeError):
            self._break("a record without the fields its kind needs")

    def _break(self, reason: str) -> None:
        if self.broken is None:
            self.broken = f"line {self.lines}: {reason}"

    def refuse_if_broken(self, path: Path) -> None:
        """No new record is chained onto a broken chain: it would bury the break under new lines."""
        if self.broken is not None:
            raise LedgerError(
                f"{path}: the hash chain is broken ({self.broken}); nothing is appended to a broken chain. "
                "Run `genesis-payments audit verify`, restore the log from a backup, then try again"
            )


def open_approval_log(settings: Settings | None = None) -> ApprovalLog:
    """The approval log of the store in use: `approval_log.jsonl` (§2), or with GENESIS_DATABASE_URL
    the `approval_chain` table of PostgreSQL (§12) — same records, same chain, same interface."""
    settings = settings or Settings()
    if settings.uses_postgres:
        from genesis_payments.postgres.approval_log import shared_approval_log

        return shared_approval_log(settings)
    return ApprovalLog(settings)
