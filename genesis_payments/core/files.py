"""Whole-file JSON state (caches, wallets, reports): read tolerant, replace atomically."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from genesis_payments.core.errors import LedgerError


def write_json_atomic(path: Path, obj: Any, *, mode: int = 0o644) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target.

    Any failure (disk full, read-only or immutable folder, I/O error) removes the temporary file,
    leaves the old file as it was, and raises LedgerError naming the file.
    """
    path = Path(path)
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            handle.write(text.encode("utf-8"))
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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise LedgerError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc
