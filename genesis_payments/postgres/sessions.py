"""One open connection per process, thread and database, reused by every store object.

Opening a connection costs milliseconds, an append well under one, so the ledgers, the buyer's
store and the job state share a connection per thread (psycopg connections are not for concurrent
use) and open a new one after a fork or after the server dropped the old one. Failures to reach the
database become `LedgerError`s that name the server without its password (`connection`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg

from genesis_payments.core.errors import LedgerError
from genesis_payments.postgres.connection import connect, transaction_retrying

T = TypeVar("T")
_LOCAL = threading.local()


def database_url(settings: object) -> str:
    url = getattr(settings, "database_url", None)
    if url is None:
        raise LedgerError("GENESIS_DATABASE_URL is not set; the PostgreSQL store needs it")
    return url.get_secret_value() if hasattr(url, "get_secret_value") else str(url)


def shared_connection(url: str) -> psycopg.Connection:
    """This thread's autocommit connection to `url` (transactions are opened explicitly)."""
    cache: dict[str, tuple[int, psycopg.Connection]] = _LOCAL.__dict__.setdefault("connections", {})
    held = cache.get(url)
    if held is not None:
        pid, conn = held
        if pid == os.getpid() and not conn.closed and not conn.broken:
            return conn
    conn = connect(url, autocommit=True)  # a LedgerError or ConfigError naming the server when it fails
    cache[url] = (os.getpid(), conn)
    return conn


def in_transaction(url: str, work: Callable[[psycopg.Connection], T], *, durable: bool = True) -> T:
    """Run `work` in one transaction (retried on serialization failures and deadlocks): whole or absent.

    `durable=False` commits without waiting for the WAL flush (`synchronous_commit = off`), the
    database's form of `fsync=False`, for bulk demo data only.
    """
    conn = shared_connection(url)

    def run(conn: psycopg.Connection) -> T:
        if not durable:
            conn.execute("SET LOCAL synchronous_commit = off")
        return work(conn)

    try:
        return transaction_retrying(conn, run)  # a broken connection is a LedgerError; the next call reconnects
    except psycopg.errors.InsufficientPrivilege as exc:
        # Least privilege (0004_roles.sql): the role this host logs in with may not write here.
        reason = " ".join(str(exc).split())[:200]
        raise LedgerError(f"PostgreSQL refused the write ({reason}); this host's role may not do this: run it "
                          "where the role may (docs/runbook.md, a role per host), nothing was written") from None


@contextmanager
def session_lock(url: str, name: str) -> Iterator[None]:
    """A named lock across hosts: a session advisory lock on a connection of its own, held until the
    block ends or the process dies (the server ends the session and frees the lock)."""
    conn = connect(url, autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
        yield
        # Released here, not by the close: the server ends a closed session a moment after the
        # client returns, and the next holder should not wait for that.
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
    finally:
        conn.close()  # a session that ends (or dies) frees whatever it still holds
