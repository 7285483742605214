"""Append-only JSONL files (§2): locked whole-line appends, readers that never raise on content.

Writers take an exclusive `flock` for each append, write the line in one `write`, and fsync
before returning. A writer killed mid-write leaves a torn last line; the next append notices the
missing newline and starts on a fresh line, so the torn bytes become one bad line and nothing else
is lost. Readers return the good records plus a `BadLine` (file, line number, reason) for each
line they could not accept.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from genesis_payments.core.errors import InvalidRecord, LedgerError
from genesis_payments.core.files import open_regular
from genesis_payments.core.records import ID_PATTERN, ID_RULE, VENDOR_ID_PATTERN

MAX_LINE_BYTES = 1 << 20
_ID_PATTERNS = (ID_PATTERN, VENDOR_ID_PATTERN)
BOM = b"\xef\xbb\xbf"

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class BadLine:
    """A line a reader could not accept, and why."""

    file: str
    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReadResult(Generic[R]):
    records: list[R] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)

    def numbered(self) -> Iterator[tuple[int, R]]:
        """(line number, record) of each good record of a whole-file read: the lines not bad."""
        bad = {b.line for b in self.bad_lines}
        line = 0
        for record in self.records:
            line += 1
            while line in bad:
                line += 1
            yield line, record


class BadLineError(ValueError):
    """Raised inside the reader for one line; never escapes a read."""


# ---------------------------------------------------------------------------------------------
# Encoding and decoding one line


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text: the form the approval log's hash chain is computed on."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def encode_line(record: BaseModel | Mapping[str, Any]) -> bytes:
    """One record as one `\\n`-terminated UTF-8 line, in canonical form (sorted keys, no spaces)."""
    if isinstance(record, BaseModel):
        data = record.model_dump(mode="json", exclude_none=True)
        kinds = set(map(type, data.values()))
        if dict not in kinds and list not in kinds:
            # A flat record (every ledger line): pydantic's encoder writes the same bytes as
            # `canonical_json` once the keys are sorted, several times faster — this is the append path.
            try:
                return to_json({key: data[key] for key in sorted(data)}) + b"\n"
            except PydanticSerializationError:
                pass  # let the standard encoder name the problem below
        record = data
    try:
        return (canonical_json(record) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecord("the record holds text that is not valid Unicode (a lone surrogate)") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        raise TypeError("Decimal must be formatted as a money string before writing")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _reject_constant(name: str) -> Any:
    raise BadLineError(f"{name} is not a number the contract accepts")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise BadLineError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


MAX_NESTING = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def _check_nesting(raw: bytes) -> None:
    """Refuse deep nesting before json sees it: libraries in this process (py_ecc, via the x402
    EVM stack) raise the recursion limit to 100,000, and json's C scanner then overflows the C
    stack on a line like `[[[[…` instead of raising RecursionError."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub(b'""', raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > MAX_NESTING:
            raise BadLineError(f"invalid JSON: nested more than {MAX_NESTING} levels deep")


def decode_line(raw: bytes) -> dict[str, Any]:
    """Parse one line (without its `\\n`) into a JSON object; numbers stay exact (Decimal)."""
    if not raw:
        raise BadLineError("empty line")
    if len(raw) > MAX_LINE_BYTES:
        raise BadLineError(f"line is {len(raw)} bytes, over the {MAX_LINE_BYTES}-byte limit")
    if raw.startswith(BOM):
        raise BadLineError("byte order mark at the start of the line")
    if raw.endswith(b"\r"):
        raise BadLineError("CRLF line ending (lines end with \\n alone)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLineError(f"invalid UTF-8 at byte {exc.start}") from None
    if not text.strip():
        raise BadLineError("blank line")
    _check_nesting(raw)
    try:
        obj = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except json.JSONDecodeError as exc:
        raise BadLineError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise BadLineError("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        # e.g. an integer of more than 4300 digits (Python's int conversion limit)
        raise BadLineError(f"invalid JSON: {str(exc)[:120]}") from None
    if not isinstance(obj, dict):
        raise BadLineError(f"expected a JSON object, got {type(obj).__name__}")
    if b"\\u" in raw and _has_lone_surrogate(obj):
        # json accepts "\ud800" escapes; such text cannot be written back as UTF-8.
        raise BadLineError("invalid JSON: lone surrogate escape in a string (not valid Unicode)")
    return obj


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error, named by field: short enough for a report."""
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "record"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") in _ID_PATTERNS:
            message = f"an id must be {ID_RULE}" + (" ('/' is allowed in a vendor id)" if where == "vendor" else "")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def validate_line(raw: bytes, model: type[R]) -> R:
    obj = decode_line(raw)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise BadLineError(describe_validation_error(exc)) from None


# ---------------------------------------------------------------------------------------------
# Reading


def open_for_reading(path: Path, root: Path | None = None) -> BinaryIO:
    """`path` opened read-only, refused (LedgerError) unless it is a regular file inside `root`.

    FileNotFoundError passes through: a missing ledger is an empty one to most readers.
    """
    return os.fdopen(open_regular(path, os.O_RDONLY, root=root), "rb")


def iter_lines(path: Path, start: int = 0, *, root: Path | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (end offset, line without `\\n`, complete) from byte `start`; the last may be torn."""
    with open_for_reading(path, root) as handle:
        handle.seek(start)
        offset = start
        for chunk in handle:
            offset += len(chunk)
            complete = chunk.endswith(b"\n")
            yield offset, chunk[:-1] if complete else chunk, complete


def iter_lines_reversed(path: Path, block_size: int = 1 << 16, *, root: Path | None = None) -> Iterator[bytes]:
    """Complete lines (without `\\n`) from the last to the first; a torn tail is never yielded.

    For look-ups of recent records (the newest decision of an intent, the chain's last hash) that
    must not cost a read of the whole file.
    """
    with open_for_reading(path, root) as handle:
        pos = _end_of_last_complete_line(handle, block_size)
        carry = b""  # the head of a line that began in an earlier block
        first = True
        while pos > 0:
            start = max(0, pos - block_size)
            handle.seek(start)
            pieces = (handle.read(pos - start) + carry).split(b"\n")
            if first:
                pieces.pop()  # the empty piece after the final newline
                first = False
            pos = start
            carry = pieces.pop(0) if pos > 0 and pieces else b""
            yield from reversed(pieces)


def _end_of_last_complete_line(handle: Any, block_size: int) -> int:
    pos = handle.seek(0, os.SEEK_END)
    while pos > 0:
        start = max(0, pos - block_size)
        handle.seek(start)
        newline = handle.read(pos - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        pos = start
    return 0


def read_jsonl(path: Path, model: type[R], *, root: Path | None = None) -> ReadResult[R]:
    """Every good record of a JSONL file and every bad line; a missing file reads as empty.

    A file that cannot be read (a directory, a symlink loop or out of `root`, no permission, an
    I/O error) is a LedgerError, never an empty result: "0 payments" must mean none were recorded.
    """
    result: ReadResult[R] = ReadResult()
    path = Path(path)
    try:
        for number, (_, raw, complete) in enumerate(iter_lines(path, root=root), start=1):
            if not complete:
                result.bad_lines.append(
                    BadLine(str(path), number, "incomplete last line (no newline): a torn write")
                )
                break
            try:
                result.records.append(validate_line(raw, model))
            except BadLineError as exc:
                result.bad_lines.append(BadLine(str(path), number, str(exc)))
    except FileNotFoundError:
        return result
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
    return result


class IncrementalReader(Generic[R]):
    """Reads only what was appended since the last call, from a saved byte offset.

    It notices a file that was truncated or replaced (different inode, or the bytes just before
    the saved offset changed) and starts again from the top; `read_new` then says `reset=True` so
    the caller drops what it derived from the old content. A last line without its newline may be
    a write in progress, so it is left for the next call.
    """

    _WITNESS = 64

    def __init__(self, path: Path, model: type[R], *, root: Path | None = None) -> None:
        self.path = Path(path)
        self.model = model
        self.root = root
        self.offset = 0
        self.line_number = 0
        self._identity: tuple[int, int] | None = None
        self._witness = b""

    def read_new(self) -> tuple[ReadResult[R], bool]:
        result: ReadResult[R] = ReadResult()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            reset = self.offset > 0 or self._identity is not None
            self._restart(None)
            return result, reset
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from exc
        identity = (stat.st_dev, stat.st_ino)
        reset = self._changed(stat)
        if reset:
            self._restart(identity)
        self._identity = identity
        for end, raw, complete in iter_lines(self.path, self.offset, root=self.root):
            if not complete:
                break
            self.line_number += 1
            self.offset = end
            try:
                result.records.append(validate_line(raw, self.model))
            except BadLineError as exc:
                result.bad_lines.append(BadLine(str(self.path), self.line_number, str(exc)))
        self._witness = self._read_witness()
        return result, reset

    def _changed(self, stat: os.stat_result) -> bool:
        if self._identity is None:
            return False
        if (stat.st_dev, stat.st_ino) != self._identity or stat.st_size < self.offset:
            return True
        return self._read_witness() != self._witness

    def _read_witness(self) -> bytes:
        start = max(0, self.offset - self._WITNESS)
        with open_for_reading(self.path, self.root) as handle:
            handle.seek(start)
            return handle.read(self.offset - start)

    def resume_at(self, position: Any) -> None:
        """Go on from a position saved earlier (a checkpoint's `FilePosition`): the next `read_new`
        checks it as its own (the same file, not shorter, the same bytes before the offset)."""
        self.offset, self.line_number = position.offset, position.lines
        self._identity = (position.dev, position.ino) if position.offset else None
        self._witness = bytes.fromhex(position.witness)

    def _restart(self, identity: tuple[int, int] | None) -> None:
        self.offset = 0
        self.line_number = 0
        self._identity = identity
        self._witness = b""


# ---------------------------------------------------------------------------------------------
# Appending


class JsonlAppender:
    """Locked, whole-line, durable appends to one JSONL file."""

    def __init__(self, path: Path, *, fsync: bool = True, root: Path | None = None) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.root = root  # when given, the file must be a regular file whose real path is inside it

    def append(self, record: BaseModel | Mapping[str, Any]) -> None:
        line = encode_line(record)  # before the lock: other writers never wait on our CPU work
        # `locked()` written out: this is the path of every ledger append, so no generator or
        # handle object around one lock, one write and one fsync.
        fd = self._open_or_raise()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_locked(fd, self.path, line, self.fsync)
        finally:
            os.close(fd)  # closing releases the flock

    def append_many(self, records: list[BaseModel | Mapping[str, Any]]) -> None:
        """Several records under one lock, in one write and one fsync (bulk loads)."""
        data = b"".join(encode_line(r) for r in records)
        with self.locked() as handle:
            handle.write(data)

    @contextmanager
    def locked(self) -> Iterator[LockedAppender]:
        """Hold the file's lock across a read-decide-append (the approval budget needs this)."""
        fd = self._open_or_raise()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield LockedAppender(fd, self.path, self.fsync)
        finally:
            os.close(fd)  # closing releases the flock

    def _open_or_raise(self) -> int:
        try:
            return self._open()
        except LedgerError:
            raise
        except OSError as exc:
            raise LedgerError(f"cannot open {self.path} for appending: {exc.strerror}") from exc

    def _open(self) -> int:
        # A fresh descriptor per append: flock belongs to the open file description, so a shared one
        # would not exclude other threads or forked children. The folder is made only when missing.
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        try:
            return open_regular(self.path, flags, root=self.root)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return open_regular(self.path, flags, root=self.root)


class LockedAppender:
    """The appending side of a held lock; valid only inside `JsonlAppender.locked()`."""

    def __init__(self, fd: int, path: Path, fsync: bool) -> None:
        self._fd = fd
        self.path = path
        self._fsync = fsync

    def append(self, record: BaseModel | Mapping[str, Any]) -> None:
        self.write(encode_line(record))

    def write(self, data: bytes) -> None:
        _write_locked(self._fd, self.path, data, self._fsync)


def _write_locked(fd: int, path: Path, data: bytes, fsync: bool) -> None:
    """Append `data` to the locked file `fd`: on a fresh line, in one write, on disk before returning."""
    if not data:
        return
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # end a torn line left by a killed writer; never glue onto it
    except OSError as exc:
        raise LedgerError(f"cannot append to {path}: {exc.strerror}; nothing was written") from exc
    write_whole(fd, path, data, size, fsync)


def write_whole(fd: int, path: Path, data: bytes, size: int, fsync: bool) -> None:
    """Append `data` to the locked file `fd`, which is `size` bytes long, all of it or nothing.

    A write or fsync that fails (ENOSPC, EIO, EDQUOT) may have put part of the line in the file;
    the file is cut back to `size` under the same lock, so a later append never lands behind a
    partial line and the hash chain and every reader stay intact.
    """
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fdatasync(fd)
            if size == 0:
                _fsync_directory(path.parent)  # a new file: make its directory entry durable too
    except OSError as exc:
        raise LedgerError(_append_failure(fd, path, size, exc)) from exc


def _append_failure(fd: int, path: Path, size: int, exc: OSError) -> str:
    """Cut the file back to `size` and say what happened and what to do."""
    reason = exc.strerror or str(exc)
    try:
        os.ftruncate(fd, size)
        if size == 0:
            os.fdatasync(fd)
    except OSError as undo:
        return (
            f"cannot append to {path}: {reason}; the partial line could not be removed "
            f"({undo.strerror}): readers will skip it as a bad line. Fix the disk, then retry"
        )
    what = "Free disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "Check the disk"
    return (
        f"cannot append to {path}: {reason}; nothing was recorded (the file is as it was, "
        f"{size} bytes). {what}, then retry"
    )


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
