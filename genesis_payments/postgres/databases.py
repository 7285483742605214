"""Databases beside the store's own on one PostgreSQL server (the Prefect server's, a throwaway one)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.redaction import redact_url
from genesis_payments.postgres.connection import connect


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead (user, password, host, port and options kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_database(url: str, name: str) -> str:
    """Create database `name` on `url`'s server unless it exists; the URL of it.

    Needs the CREATEDB privilege when it is missing; the error says what to run instead.
    """
    with connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another host created it between the look and the CREATE
            except psycopg.errors.InsufficientPrivilege:
                raise ConfigError(
                    f"database {name!r} does not exist and {redact_url(url)} may not create it: "
                    f"have an administrator run CREATE DATABASE {name} (and grant its owner), then retry"
                ) from None
    return with_database(url, name)
