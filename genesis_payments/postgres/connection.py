"""Stand-in for the pgops foundation (replaced by theirs at merge): connect, retry serialization failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors

T = TypeVar("T")
RETRIED = (errors.SerializationFailure, errors.DeadlockDetected)


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    return psycopg.connect(url, **kwargs)


def transaction_retrying(conn: psycopg.Connection, fn: Callable[[psycopg.Connection], T], attempts: int = 5) -> T:
    for attempt in range(attempts):
        try:
            with conn.transaction():
                return fn(conn)
        except RETRIED:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
