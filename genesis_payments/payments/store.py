"""The buyer's private working state: one owner-only JSON file per payment, and small indexes.

A signed EIP-3009 authorization is a bearer instrument until `valid_before`, so it is kept only
here (folder 0700, files 0600), only while `capture` may still need it, and never logged. Beside
the payments: `keys/` maps each idempotency key to its payment and `intents/` lists each intent's
payments (one small file each, named by a hash, so a write never rewrites the whole index).
Read-decide-write sequences hold a named lock (a lock file plus a thread lock): `intent:<id>` for
authorizing, `payment:<id>` for capturing and cancelling, so concurrent processes cannot both act
on one payment, and purchases of different intents never wait for each other.

With `GENESIS_DATABASE_URL` set the same records live in PostgreSQL (`postgres.authorizations`):
one row per payment whose idempotency key is UNIQUE and of which at most one live or captured
payment per intent may exist (a partial unique index), the signed authorization encrypted with a
key only the buyer hosts hold, and the named locks session advisory locks that hold across hosts.
`AuthorizationStore` is the face of both; `FileAuthorizations` is the files store.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
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
PAYMENT_ID = re.compile(r"^pay_[0-9a-f]{32}$")

_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _thread_lock(name: str) -> threading.RLock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(name, threading.RLock())


class AuthorizationStore:
    """The buyer's store in use: files under `state/payments/`, or PostgreSQL."""

    def __init__(self, settings: Settings) -> None:
        self.dir: Path = settings.state_dir / "payments"
        if settings.uses_postgres:
            from genesis_payments.postgres.authorizations import PgAuthorizations

            self.backend: Any = PgAuthorizations(settings)
        else:
            self.backend = FileAuthorizations(self.dir)

    @property
    def where(self) -> str:
        """Where the records are, for messages."""
        return self.backend.where

    def locked(self, name: str) -> Any:
        """Hold the lock called `name` (e.g. `intent:<id>`) across threads and processes (and hosts)."""
        return self.backend.locked(name)

    @staticmethod
    def valid_id(payment_id: str) -> bool:
        return bool(PAYMENT_ID.fullmatch(payment_id))

    def load(self, payment_id: str) -> dict[str, Any] | None:
        return self.backend.load(payment_id) if self.valid_id(payment_id) else None

    def save(self, record: dict[str, Any]) -> None:
        if not self.valid_id(record["payment_id"]):
            raise ValueError(f"malformed payment id {record['payment_id']!r}")
        self.backend.save(record)

    def payment_for_key(self, idempotency_key: str) -> str | None:
        return self.backend.payment_for_key(idempotency_key)

    def payments_of_intent(self, intent_id: str) -> list[str]:
        return self.backend.payments_of_intent(intent_id)

    def register(self, record: dict[str, Any]) -> None:
        """Index a new payment under its idempotency key and its intent."""
        self.backend.register(record)

    def all(self) -> list[dict[str, Any]]:
        return self.backend.all()


class FileAuthorizations:
    """One 0600 JSON file per payment under a 0700 folder, with `keys/` and `intents/` indexes."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder

    @property
    def where(self) -> str:
        return str(self.dir)

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the lock called `name` (e.g. `intent:<id>`) across threads and processes."""
        with _thread_lock(f"{self.dir}:{name}"):
            locks = self.dir / "locks"
            self._ensure_dir(locks)
            lock_path = locks / f"{_digest(name)[:32]}.lock"
            try:
                handle = open(lock_path, "a")
            except OSError as exc:
                raise LedgerError(f"cannot lock the payment store ({lock_path}): {exc.strerror}") from exc
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                except OSError as exc:
                    raise LedgerError(f"cannot lock the payment store ({lock_path}): {exc.strerror}") from exc
                yield

    def load(self, payment_id: str) -> dict[str, Any] | None:
        record = read_json_file(self.dir / f"{payment_id}.json", default=None)
        return record if isinstance(record, dict) else None

    def save(self, record: dict[str, Any]) -> None:
        self._ensure_dir(self.dir)
        write_json_atomic(self.dir / f"{record['payment_id']}.json", record, mode=PRIVATE_FILE)

    def payment_for_key(self, idempotency_key: str) -> str | None:
        entry = read_json_file(self.dir / "keys" / f"{_digest(idempotency_key)}.json", default=None)
        return str(entry["payment_id"]) if isinstance(entry, dict) and "payment_id" in entry else None

    def payments_of_intent(self, intent_id: str) -> list[str]:
        entry = read_json_file(self.dir / "intents" / f"{_digest(intent_id)}.json", default=None)
        return [str(p) for p in entry.get("payments", [])] if isinstance(entry, dict) else []

    def register(self, record: dict[str, Any]) -> None:
        keys, intents = self.dir / "keys", self.dir / "intents"
        self._ensure_dir(keys)
        self._ensure_dir(intents)
        write_json_atomic(keys / f"{_digest(record['idempotency_key'])}.json",
                          {"idempotency_key": record["idempotency_key"], "payment_id": record["payment_id"]},
                          mode=PRIVATE_FILE)
        payments = self.payments_of_intent(record["intent_id"])
        if record["payment_id"] not in payments:
            payments.append(record["payment_id"])
        write_json_atomic(intents / f"{_digest(record['intent_id'])}.json",
                          {"intent_id": record["intent_id"], "payments": payments}, mode=PRIVATE_FILE)

    def all(self) -> list[dict[str, Any]]:
        if not self.dir.exists():
            return []
        records = []
        for path in sorted(self.dir.glob("pay_*.json")):
            record = read_json_file(path, default=None)
            if isinstance(record, dict):
                records.append(record)
        return records

    @staticmethod
    def _ensure_dir(path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if (path.stat().st_mode & 0o777) != PRIVATE_DIR:
                os.chmod(path, PRIVATE_DIR)
        except OSError as exc:
            raise LedgerError(
                f"cannot prepare the payment store {path}: {exc.strerror}; "
                "check that the state folder is writable (not read-only or immutable)"
            ) from exc
