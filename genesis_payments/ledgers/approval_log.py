"""The approval log (§4, §8): one decision per line, each chained to the one before by SHA-256.

`hash` is the hex SHA-256 of the record without `hash`, as canonical JSON; the first record's
`prev_hash` is 64 zeros. Appends compute the chain under the file's lock, so concurrent writers in
several processes still produce one unbroken chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.file_watch import fork_generation
from genesis_payments.core.files import open_regular
from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.ledgers.jsonl import (
    BadLineError,
    LockedAppender,
    ReadResult,
    canonical_json,
    decode_line,
    iter_lines_reversed,
    read_jsonl,
    validate_line,
    write_whole,
)

GENESIS_HASH = "0" * 64


def decision_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, `hash` left out."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def last_hash(path: Path) -> str:
    """`hash` of the file's last complete line, or 64 zeros for an empty or missing file."""
    try:
        for raw in iter_lines_reversed(path):
            if raw.strip():
                try:
                    return str(decode_line(raw)["hash"])
                except (BadLineError, KeyError):
                    break  # a broken last line: the chain restarts, and `audit verify` reports it
    except FileNotFoundError:
        pass
    return GENESIS_HASH


def chained_line(body: dict[str, Any], *, flat: bool | None = None) -> tuple[str, bytes]:
    """(hash, the `\\n`-terminated canonical line with `hash` in it) of a record without `hash`.

    The canonical JSON is built once: for a body of flat values (strings, lists of strings) whose
    keys are already in sorted order it is pydantic-core's encoding, and the
    `hash` member is spliced in where sorted keys put it, which gives the same bytes as encoding
    the record again. Nested values fall back to a second encoding. `flat=True` is the caller's
    promise that every value is a string or a list of strings (the meta agent's own records).
    """
    if flat is None:
        flat = all(_is_flat(v) for v in body.values())
    if not flat:
        text = _CANONICAL.encode(body)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return digest, (canonical_json({**body, "hash": digest}) + "\n").encode("utf-8")
    keys = tuple(body)
    shape = _SHAPES.get(keys)
    if shape is None:
        marker = _hash_marker(keys)
        shape = _SHAPES[keys] = (marker, list(keys) == sorted(keys), marker.encode("utf-8"))
    marker, in_order, marker_bytes = shape
    if in_order:
        # Keys already in canonical order and flat values: pydantic-core's encoder writes the same
        # bytes as `canonical_json` (compact, UTF-8, the same escapes; tested) in half the time of
        # the C json encoder. A lone surrogate cannot be written as UTF-8: the general path says so.
        try:
            data = to_json(body)
        except PydanticSerializationError:
            data = None
        if data is not None:
            digest = hashlib.sha256(data).hexdigest()
            if marker == "":
                opening = b',"hash":"' if len(data) > 2 else b'"hash":"'
                return digest, data[:-1] + opening + digest.encode() + b'"}\n'
            index = data.find(marker_bytes)
            if index >= 0:
                return digest, data[: index + 1] + b'"hash":"' + digest.encode() + b'",' + data[index + 1 :] + b"\n"
    text = _CANONICAL.encode(body)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if marker == "":
        opening = ',"hash":"' if len(text) > 2 else '"hash":"'
        return digest, (text[:-1] + opening + digest + '"}\n').encode("utf-8")
    index = text.find(marker)
    if index >= 0:
        line = text[: index + 1] + '"hash":"' + digest + '",' + text[index + 1 :]
        return digest, (line + "\n").encode("utf-8")
    return digest, (canonical_json({**body, "hash": digest}) + "\n").encode("utf-8")


# Per key tuple: where `hash` goes (see `_hash_marker`), whether the keys are already sorted, and
# the marker as UTF-8.
_SHAPES: dict[tuple[str, ...], tuple[str, bool, bytes]] = {}

# `canonical_json`'s settings in one encoder built once: json.dumps with options builds a new
# encoder per call, which is a measurable share of a decision. Same output (tested).
def _not_serialisable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable (money must be a string)")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_not_serialisable)


def _hash_marker(keys: tuple[str, ...]) -> str:
    """Where `hash` goes among sorted keys: the text that starts the member after it ("" = last).

    In canonical JSON a member starts after `{` or `,`; inside a string every `"` is escaped, so
    `,"key":` can only be the member itself.
    """
    following = min((k for k in keys if k > "hash"), default=None)
    if following is None:
        return ""
    has_before = any(k < "hash" for k in keys)
    return ("," if has_before else "{") + json.dumps(following, ensure_ascii=False) + ":"


def _is_flat(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(i, str) for i in value))


class LogHandle(LockedAppender):
    """The held lock on the approval log: its size when the lock was taken, and line writes."""

    def __init__(self, fd: int, path: Path, fsync: bool, size: int, identity: tuple[int, int]) -> None:
        super().__init__(fd, path, fsync)
        self.fd = fd
        self.size = size
        self.identity = identity

    def read_from(self, offset: int, limit: int | None = None) -> bytes:
        """Bytes from `offset` to the size seen under the lock (lines other writers appended)."""
        if offset >= self.size:
            return b""
        length = self.size - offset if limit is None else min(limit, self.size - offset)
        return os.pread(self.fd, length, offset)

    def write_line(self, line: bytes, *, clean: bool = False) -> tuple[int, int]:
        """Append one line, durably; returns (offset, length) of the line itself.

        `clean` is the caller's knowledge that the file ends with a whole line (it read up to the
        end under this lock), which saves looking for a torn last line.
        """
        if not clean and self.size and os.pread(self.fd, 1, self.size - 1) != b"\n":
            line_offset = self.size + 1
            data = b"\n" + line  # end a torn line left by a killed writer; never glue onto it
        else:
            line_offset = self.size
            data = line
        write_whole(self.fd, self.path, data, self.size, self._fsync)  # all or nothing
        self.size += len(data)
        return line_offset, len(line)

    def write(self, data: bytes) -> None:
        super().write(data)
        self.size = os.fstat(self.fd).st_size


class _HeldLock:
    __slots__ = ("_handle", "_log")

    def __init__(self, log: ApprovalLog) -> None:
        self._log = log
        self._handle: LogHandle | None = None

    def __enter__(self) -> LogHandle:
        self._handle = self._log._acquire()
        return self._handle

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._log._release(self._handle)


class ApprovalLog:
    """Appends and reads `approval_log.jsonl`."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.path = self.settings.approval_log_path
        self._fd: int | None = None
        self._fd_identity: tuple[int, int] = (-1, -1)
        self._pid = os.getpid()  # the process that opened `_fd`
        self._fork = fork_generation()  # the same, as a counter: read per decision instead of getpid
        self._handle: LogHandle | None = None
        self._path_text = str(self.path)
        self._thread_lock = threading.RLock()

    def locked(self) -> _HeldLock:
        """The log's lock, for a decision whose rules must be checked and appended atomically.

        The file stays open between decisions (one `flock` and one `fstat` per decision instead of
        open/close); it is reopened when the path now names another file (rotated or replaced).
        A thread lock comes first because `flock` does not exclude threads sharing one descriptor.
        """
        return _HeldLock(self)

    def _acquire(self) -> LogHandle:
        self._thread_lock.acquire()
        try:
            fd = self._fd
            if fd is None or self._fork != fork_generation():
                fd = self._open_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Under the lock, the path must still name the open file: a log rotated away, replaced
            # or deleted since the last decision is noticed here and the path opened again.
            try:
                current = os.stat(self._path_text)
            except FileNotFoundError:
                current = None
            if current is None or current.st_ino != self._fd_identity[1] or current.st_dev != self._fd_identity[0]:
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._close_fd()
                fd = self._open_fd()
                fcntl.flock(fd, fcntl.LOCK_EX)
            # The size under the lock: an lseek (an int) is cheaper than an fstat (a stat object).
            size = os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._thread_lock.release()
            raise
        # One handle per open descriptor, reused: only its size changes from one lock to the next.
        handle = self._handle
        if handle is None or handle.fd != fd:
            handle = self._handle = LogHandle(fd, self.path, self.settings.fsync, size, self._fd_identity)
        else:
            handle.size = size
        return handle

    def _release(self, handle: LogHandle) -> None:
        try:
            fcntl.flock(handle.fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _open_fd(self) -> int:
        if self._fd is not None and self._fork != fork_generation():
            # A forked child shares the parent's open file, and with it the flock: it must not
            # believe it holds the lock while the parent does. Its own descriptor fixes that.
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            self._pid = os.getpid()
            self._fork = fork_generation()
            self._handle = None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                # A regular file inside the root: never a directory, a FIFO or a symlink out of it.
                fd = open_regular(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, root=self.settings.root)
            except OSError as exc:
                raise LedgerError(f"cannot open {self.path} for appending: {exc.strerror}") from exc
            stat = os.fstat(fd)
            self._fd = fd
            self._fd_identity = (stat.st_dev, stat.st_ino)  # an open file's identity never changes
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._thread_lock:
            self._close_fd()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def append_locked(self, handle: LockedAppender, fields: Mapping[str, Any], prev_hash: str) -> ApprovalDecision:
        """Chain `fields` onto `prev_hash` and append; the caller holds the lock."""
        record = dict(fields)
        record.setdefault("decision_id", uuid.uuid4().hex)
        record.setdefault("ts", format_utc(utc_now()))
        record["prev_hash"] = prev_hash
        record.pop("hash", None)
        decision = ApprovalDecision.model_validate({**record, "hash": GENESIS_HASH})
        on_disk = decision.to_json_dict()
        on_disk["hash"] = decision_hash(on_disk)
        decision = ApprovalDecision.model_validate(on_disk)
        handle.append(on_disk)
        return decision

    def append(self, fields: Mapping[str, Any]) -> ApprovalDecision:
        """Append one decision, chained onto the current last line."""
        with self.locked() as handle:
            return self.append_locked(handle, fields, last_hash(self.path))

    def append_body_locked(self, handle: LogHandle, body: dict[str, Any], *, flat: bool | None = None,
                           clean: bool = False) -> tuple[str, int, int]:
        """Hot path: chain an already complete body (its `prev_hash` set, money as strings) and append.

        Returns (hash, offset of the line, length of the line). The caller holds the lock and built
        `body` itself, so no model validation is repeated here.
        """
        digest, line = chained_line(body, flat=flat)
        offset, length = handle.write_line(line, clean=clean)
        return digest, offset, length

    def read(self) -> ReadResult[ApprovalDecision]:
        return read_jsonl(self.path, ApprovalDecision, root=self.settings.root)

    def latest_decisions(self) -> dict[str, ApprovalDecision]:
        """The newest decision for each intent (a review's resolution replaces `pending_review`)."""
        latest: dict[str, ApprovalDecision] = {}
        for decision in self.read().records:
            latest[decision.intent_id] = decision
        return latest

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
                if decision.intent_id == intent_id:
                    return decision
        except FileNotFoundError:
            pass
        return None
