"""Stored authorizations: one owner-only JSON file per payment under `state_dir/payments/`.

A signed EIP-3009 authorization is a bearer instrument until `valid_before`, so it is kept only
here (folder 0700, files 0600), only while `capture` may still need it, and never logged. The
idempotency index maps each idempotency key to its payment. Read-decide-write sequences hold the
store's lock (a lock file, plus a thread lock), so concurrent processes cannot both act on one
payment.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.settings import Settings

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_THREAD_LOCK = threading.RLock()


class AuthorizationStore:
    def __init__(self, settings: Settings) -> None:
        self.dir: Path = settings.state_dir / "payments"
        self.index_path = self.dir / "idempotency.json"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with _THREAD_LOCK:
            self._ensure_dir()
            lock_path = self.dir / ".lock"
            try:
                handle = open(lock_path, "a")
                if os.fstat(handle.fileno()).st_mode & 0o777 != PRIVATE_FILE:
                    os.fchmod(handle.fileno(), PRIVATE_FILE)
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError as exc:
                raise LedgerError(f"cannot lock the payment store ({lock_path}): {exc.strerror}") from exc
            with handle:
                yield

    def path_of(self, payment_id: str) -> Path:
        if not payment_id.replace("_", "").isalnum():
            raise ValueError(f"malformed payment id {payment_id!r}")
        return self.dir / f"{payment_id}.json"

    def load(self, payment_id: str) -> dict[str, Any] | None:
        try:
            path = self.path_of(payment_id)
        except ValueError:
            return None
        record = read_json_file(path, default=None)
        return record if isinstance(record, dict) else None

    def save(self, record: dict[str, Any]) -> None:
        self._ensure_dir()
        write_json_atomic(self.path_of(record["payment_id"]), record, mode=PRIVATE_FILE)

    def payment_for_key(self, idempotency_key: str) -> str | None:
        index = read_json_file(self.index_path, default={}) or {}
        value = index.get(idempotency_key)
        return str(value) if value is not None else None

    def remember_key(self, idempotency_key: str, payment_id: str) -> None:
        index = dict(read_json_file(self.index_path, default={}) or {})
        index[idempotency_key] = payment_id
        write_json_atomic(self.index_path, index, mode=PRIVATE_FILE)

    def all(self) -> list[dict[str, Any]]:
        if not self.dir.exists():
            return []
        records = []
        for path in sorted(self.dir.glob("pay_*.json")):
            record = read_json_file(path, default=None)
            if isinstance(record, dict):
                records.append(record)
        return records

    def _ensure_dir(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            if self.dir.stat().st_mode & 0o777 != PRIVATE_DIR:
                os.chmod(self.dir, PRIVATE_DIR)  # only when needed: an immutable folder may already be right
        except OSError as exc:
            raise LedgerError(
                f"cannot prepare the payment store {self.dir}: {exc.strerror}; "
                "check that the state folder is writable (not read-only or immutable)"
            ) from exc
