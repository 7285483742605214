"""The buyer's store (`payments.store`) in PostgreSQL: one row per payment, shared by the buyer hosts.

Decision (docs/architecture.md): the signed authorizations live in the database, encrypted at rest.
A payment whose paid request was sent has an unknown outcome until the chain settles it, and the
next `capture` must re-send the SAME payload from whichever host runs it; a payload kept on one
host would strand its payments when that host is gone. So the whole private record is a row —
status, idempotency key and intent as columns the constraints work on, the rest as JSON — and the
payload a Fernet token (AES-128-CBC with HMAC-SHA256, `cryptography`) under a key the database
never holds: `GENESIS_AUTHORIZATION_KEY` on every buyer host, or, on a single host, a key file
`state/authorization.key` (0600) made on first use. A payload is destroyed by setting it NULL once
no capture can need it (`_scrub`); the old row version is ciphertext until VACUUM reclaims it.

The rules are constraints, not checks: an idempotency key names one payment once it is authorized
(`one_payment_per_key`, as the files store indexes a key only then), and an intent
has at most one live or captured payment (`one_payment_per_approval`, a partial unique index); a
violation raises the same error the files store's checks raise. The named locks are session
advisory locks, held across hosts and freed by the server when a holder dies.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet, InvalidToken
from psycopg import errors

from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.core.settings import Settings
from genesis_payments.payments.errors import approval_already_paid, key_in_use
from genesis_payments.postgres.connection import database_failure
from genesis_payments.postgres.sessions import (
    database_url,
    in_transaction,
    session_lock,
    shared_connection,
)

KEY_FILE = "authorization.key"
_PRIVATE = "payload"
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_GUARD = threading.Lock()


def _thread_lock(name: str) -> threading.RLock:
    with _GUARD:
        return _THREAD_LOCKS.setdefault(name, threading.RLock())


def authorization_key(settings: Settings) -> Fernet:
    """The buyer hosts' key: the setting, else this host's key file (made on first use, 0600)."""
    if settings.authorization_key is not None:
        try:
            return Fernet(settings.authorization_key.get_secret_value().strip().encode())
        except ValueError:
            raise ConfigError("GENESIS_AUTHORIZATION_KEY must be a Fernet key (urlsafe base64 of 32 bytes, e.g. "
                              "from `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key()"
                              ".decode())'`)") from None
    path = settings.state_dir / KEY_FILE
    try:
        if not path.exists():
            _make_key_file(path)
        return Fernet(path.read_bytes().strip())
    except OSError as exc:
        raise LedgerError(f"cannot read or make the authorization key {path}: {exc.strerror}") from exc
    except ValueError:
        raise ConfigError(f"{path} is not a Fernet key; restore it from backup or set GENESIS_AUTHORIZATION_KEY"
                          ) from None


def _make_key_file(path: Path) -> None:
    """A new key, written whole and fsynced beside `path`, then linked to it only if no other process
    made one first (`link` fails on an existing name): every process ends up with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)  # as `read_json_file` reads the files store


class PgAuthorizations:
    def __init__(self, settings: Settings) -> None:
        self.url = database_url(settings)
        self.settings = settings
        self._fernet: Fernet | None = None

    @property
    def where(self) -> str:
        return "payment_authorizations (PostgreSQL)"

    @property
    def fernet(self) -> Fernet:
        if self._fernet is None:
            self._fernet = authorization_key(self.settings)
        return self._fernet

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        with _thread_lock(f"{self.url}:{name}"), session_lock(self.url, f"payments:{name}"):
            yield

    def load(self, payment_id: str) -> dict[str, Any] | None:
        row = shared_connection(self.url).execute(
            "SELECT record::text, payload FROM payment_authorizations WHERE payment_id = %s", (payment_id,)).fetchone()
        return None if row is None else self._record(*row)

    def _record(self, text: str, payload: bytes | None) -> dict[str, Any]:
        record = _loads(text)
        if payload is not None:
            try:
                record[_PRIVATE] = _loads(self.fernet.decrypt(bytes(payload)))
            except InvalidToken:
                raise ConfigError(f"payment {record.get('payment_id')}: its stored authorization cannot be decrypted "
                                  "with this host's key; every buyer host needs the same GENESIS_AUTHORIZATION_KEY"
                                  ) from None
        return record

    def save(self, record: dict[str, Any]) -> None:
        public = {k: v for k, v in record.items() if k != _PRIVATE}
        payload = record.get(_PRIVATE)
        sealed = None if payload is None else self.fernet.encrypt(json.dumps(payload).encode("utf-8"))
        try:
            in_transaction(self.url, lambda conn: conn.execute(
                "INSERT INTO payment_authorizations (payment_id, idempotency_key, intent_id, status, record, payload, "
                "updated_at) VALUES (%s, %s, %s, %s, %s::jsonb, %s, now()) ON CONFLICT (payment_id) DO UPDATE SET "
                "status = EXCLUDED.status, record = EXCLUDED.record, payload = EXCLUDED.payload, updated_at = now()",
                (record["payment_id"], record["idempotency_key"], record["intent_id"], record["status"],
                 json.dumps(public, default=str), sealed)))
        except errors.UniqueViolation as exc:
            raise self._refusal(record, exc) from None

    def _refusal(self, record: dict[str, Any], exc: errors.UniqueViolation) -> Exception:
        """The files store's error for the rule the database just enforced."""
        conn = shared_connection(self.url)
        if exc.diag.constraint_name == "one_payment_per_approval":
            row = conn.execute(
                "SELECT payment_id, status FROM payment_authorizations WHERE intent_id = %s AND payment_id <> %s "
                "AND status IN ('authorized', 'settlement_pending', 'captured')",
                (record["intent_id"], record["payment_id"])).fetchone()
            return approval_already_paid(record["intent_id"], *(row or ("(unknown)", "live")))
        row = conn.execute("SELECT payment_id, intent_id FROM payment_authorizations WHERE idempotency_key = %s "
                           "AND status <> 'signed' AND payment_id <> %s",
                           (record["idempotency_key"], record["payment_id"])).fetchone()
        return key_in_use(record["idempotency_key"], *(row or ("(unknown)", "(unknown)")), record["intent_id"])

    def payment_for_key(self, idempotency_key: str) -> str | None:
        row = shared_connection(self.url).execute(
            "SELECT payment_id FROM payment_authorizations WHERE idempotency_key = %s AND status <> 'signed'",
            (idempotency_key,)).fetchone()
        return None if row is None else row[0]

    def payments_of_intent(self, intent_id: str) -> list[str]:
        rows = shared_connection(self.url).execute(
            "SELECT payment_id FROM payment_authorizations WHERE intent_id = %s "
            "ORDER BY record->>'created_at', payment_id", (intent_id,)).fetchall()
        return [r[0] for r in rows]

    def register(self, record: dict[str, Any]) -> None:
        """Nothing to do: the key and intent are columns of the row `save` wrote (and constrain it)."""

    def all(self) -> list[dict[str, Any]]:
        try:
            rows = shared_connection(self.url).execute(
                "SELECT record::text, payload FROM payment_authorizations ORDER BY payment_id").fetchall()
        except psycopg.OperationalError as exc:
            raise database_failure(exc, "while reading") from None
        return [self._record(*row) for row in rows]
