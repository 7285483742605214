"""Connections to the PostgreSQL store (§12): one way to open them, one way to retry a transaction.

A connection is a plain psycopg 3 connection, autocommit off: nothing is visible to another host
until its transaction commits, so a writer killed mid-transaction leaves nothing half-written.
Errors become the project's own: a URL that cannot be used is a `ConfigError`, a server that
cannot be reached or fails is a `LedgerError`; the URL in a message is always redacted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.core.redaction import redact, redact_url

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "genesis-payments"
RETRY_ATTEMPTS = 8
# Serialization failures and deadlocks: the transaction was rolled back whole and may simply be run again.
RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg connection to `url` (postgresql://…), with a connect timeout unless the URL sets one."""
    try:
        options = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"GENESIS_DATABASE_URL cannot be used ({_reason(exc)}): {redact_url(url)}") from None
    extra: dict[str, object] = {}
    if "connect_timeout" not in options:
        extra["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if "application_name" not in options:
        extra["application_name"] = APPLICATION_NAME
    try:
        return psycopg.connect(url, autocommit=autocommit, **extra)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"GENESIS_DATABASE_URL cannot be used ({_reason(exc)}): {redact_url(url)}") from None
    except psycopg.OperationalError as exc:
        raise LedgerError(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {_reason(exc)}; check that the server runs, "
            "the host, port, user, password and sslmode of GENESIS_DATABASE_URL"
        ) from None


def transaction_retrying(
    conn: psycopg.Connection,
    fn: Callable[[psycopg.Connection], T],
    attempts: int = RETRY_ATTEMPTS,
    *,
    isolation: str | None = None,
) -> T:
    """Run `fn(conn)` in one transaction and commit; run it again, in a new transaction, when
    PostgreSQL rolled it back for a serialization failure (40001) or a deadlock (40P01).

    `isolation` ("serializable", "repeatable read") is set for each try. `fn` must do nothing
    outside the database that a second try would repeat. Other database errors (a unique
    violation, …) propagate unchanged; a broken connection becomes a `LedgerError`.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # Inside an open transaction a retry would only roll back to a savepoint: not a new snapshot.
        raise LedgerError("transaction_retrying needs a connection with no transaction open; commit or roll back first")
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                if isolation is not None:
                    conn.execute(f"SET TRANSACTION ISOLATION LEVEL {_isolation(isolation)}")
                return fn(conn)
        except RETRYABLE as exc:
            if attempt == attempts:
                raise LedgerError(
                    f"PostgreSQL rolled the transaction back {attempts} times ({exc.sqlstate}: {_reason(exc)}); "
                    "too much contention: try again, or run fewer writers at once"
                ) from None
            # Jittered, growing pause so that the writers that collided do not collide again.
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
        except psycopg.OperationalError as exc:
            raise database_failure(exc, "during a transaction") from None
    raise AssertionError("unreachable")  # pragma: no cover


def database_failure(exc: psycopg.Error, doing: str) -> LedgerError:
    """A `LedgerError` for a server failure (connection lost, shut down): what happened and what to do."""
    return LedgerError(
        f"PostgreSQL failed {doing} ({_reason(exc)}); the transaction was rolled back, or, if the connection "
        "broke during the commit, its outcome is unknown: check the server, then retry (appends are idempotent)"
    )


_ISOLATION_LEVELS = {"serializable": "SERIALIZABLE", "repeatable read": "REPEATABLE READ",
                     "read committed": "READ COMMITTED"}


def _isolation(level: str) -> str:
    try:
        return _ISOLATION_LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"isolation must be one of {sorted(_ISOLATION_LEVELS)}, not {level!r}") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)
