"""Whole-file JSON state (caches, wallets, reports): read tolerant, replace atomically."""

from __future__ import annotations

import json
import os
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
    def fill(handle: BinaryIO) -> None:
        if compact:
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
        else:
            text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        handle.write(text.encode("utf-8"))

    write_atomic(path, fill, mode=mode)


def write_atomic(path: Path, fill: Callable[[BinaryIO], None], *, mode: int = 0o644) -> None:
    """`fill` writes the file's bytes into a temporary file in the same folder, which is fsynced and
    renamed over `path`: a reader sees the old file or the new one, never part of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
