"""Whole-file JSON state (caches, wallets, reports): read tolerant, replace atomically."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from genesis_payments.core.errors import LedgerError


def write_json_atomic(path: Path, obj: Any, *, mode: int = 0o644, compact: bool = False) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target.

    `compact` writes one unindented line: for large machine-only state (a checkpoint of thousands
    of rows), where indenting costs several times the rest of the job."""
    if compact:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    else:
        text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    def fill(handle: BinaryIO) -> None:
        handle.write(text.encode("utf-8"))

    write_atomic(path, fill, mode=mode)


def write_atomic(path: Path, fill: Callable[[BinaryIO], None], *, mode: int = 0o644) -> None:
    """`fill` writes the file's bytes into a temporary file in the same folder, which is fsynced and
    renamed over `path`: a reader sees the old file or the new one, never part of one.

    Any failure (disk full, read-only or immutable folder, I/O error) removes the temporary file,
    leaves the old file as it was, and raises LedgerError naming the file.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        what = "Free disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "Check the folder's permissions"
        raise LedgerError(
            f"cannot write {path}: {exc.strerror or exc}; the previous version (if any) is unchanged. "
            f"{what}, then retry"
        ) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def read_json_file(path: Path, default: Any = None) -> Any:
    """The parsed file (numbers as Decimal, never float), or `default` when it does not exist."""
    path = Path(path)
    try:
        with os.fdopen(open_regular(path), "rb") as handle:  # never a FIFO (it would block) or a folder
            text = handle.read().decode("utf-8")
    except FileNotFoundError:
        return default
    except UnicodeDecodeError as exc:
        raise LedgerError(f"{path} is not valid UTF-8 (byte {exc.start})") from exc
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise LedgerError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc


# ---------------------------------------------------------------------------------------------
# Path safety: a ledger is a regular file inside the root


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def file_kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_inside_root(path: Path, root: Path | None) -> None:
    """Refuse a path under `root` whose real location (symlinks followed) is outside it.

    A ledger replaced by a symlink to `/etc/…` or another tenant's data must not be read as ours or
    written through. Paths configured outside the root on purpose are not affected.
    """
    if root is None:
        return
    path, root = Path(path), Path(root)
    try:
        path.relative_to(root)
    except ValueError:
        return
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and real_root not in real.parents:
        raise LedgerError(
            f"{path} resolves to {real}, outside the root {root}: refusing to follow the symlink. "
            "Replace it with the real file (or fix GENESIS_ROOT)"
        )


def open_regular(path: Path, flags: int = os.O_RDONLY, *, root: Path | None = None, mode: int = 0o644) -> int:
    """A descriptor on `path` that is a regular file (inside `root` when given), or LedgerError.

    Directories, FIFOs, devices and symlink loops are refused with a message naming the file;
    FileNotFoundError passes through so that callers can treat a missing ledger as empty.
    """
    path = Path(path)
    check_inside_root(path, root)
    try:
        # O_NONBLOCK: opening a FIFO must not hang waiting for a writer; it is refused just below.
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise LedgerError(f"{path} is a directory, not a ledger file: move it away, then retry") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LedgerError(f"{path} is a symlink loop: replace it with the real file, then retry") from None
        if exc.errno == errno.ENXIO:
            raise LedgerError(f"{path} is {file_kind(os.stat(path).st_mode)}, not a regular file") from None
        raise LedgerError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            raise LedgerError(f"{path} is {file_kind(kind)}, not a regular file: move it away, then retry")
        return fd  # O_NONBLOCK means nothing to a regular file
    except BaseException:
        os.close(fd)
        raise
