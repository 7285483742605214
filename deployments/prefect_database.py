"""The Prefect server on the PostgreSQL of §12: its connection settings from GENESIS_DATABASE_URL.

Prefect's server keeps its own tables in a database of its own (`prefect`) on the same server,
reached through SQLAlchemy's asyncpg driver. asyncpg takes no libpq options in the URL, so
`sslmode`/`sslrootcert`/`sslcert`/`sslkey` become Prefect's TLS settings; Prefect always verifies
the server's certificate (against `sslrootcert`, or the system's CAs), so `require` is verified too.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from genesis_payments.core.errors import ConfigError
from genesis_payments.postgres.databases import ensure_database

PREFECT_DATABASE = "prefect"
_TLS = "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS"


def prefect_server_database_env(genesis_url: str, database: str = PREFECT_DATABASE) -> dict[str, str]:
    """Environment for `prefect server start` on `genesis_url`'s server, database `database`
    (created when missing)."""
    ensure_database(genesis_url, database)
    parts = urlsplit(genesis_url)
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    if "host" in options or not parts.hostname:
        raise ConfigError("GENESIS_DATABASE_URL names its host in the query or a socket folder: set "
                          "PREFECT_SERVER_DATABASE_CONNECTION_URL (postgresql+asyncpg://…) for Prefect yourself")
    env = {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL":
            urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{database}", "", "")),
    }
    mode = options.get("sslmode", "prefer")
    if mode in ("require", "verify-ca", "verify-full"):
        env[f"{_TLS}_ENABLED"] = "true"
        env[f"{_TLS}_CHECK_HOSTNAME"] = "true" if mode == "verify-full" else "false"
        for option, setting in (("sslrootcert", "CA_FILE"), ("sslcert", "CERT_FILE"), ("sslkey", "KEY_FILE")):
            if option in options:
                env[f"{_TLS}_{setting}"] = options[option]
    return env
