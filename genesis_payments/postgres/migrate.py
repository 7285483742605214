"""Schema migrations of the PostgreSQL store (§12): plain versioned SQL files, applied in order.

`migrations/NNNN_name.sql` is version `NNNN_name`. `upgrade(url)` applies every file not yet in
`schema_migrations`, in version order, each in its own transaction together with its row there:
a file is applied whole or not at all. A session-level advisory lock serialises upgrades, so two
hosts running `genesis-payments db upgrade` at once apply each file once; running it again
applies nothing. A file, once released, is never edited: a change is a new file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.core.redaction import redact, redact_url
from genesis_payments.postgres.connection import connect

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE_NAME = re.compile(r"^(?P<number>\d{4})_[a-z0-9_]+\.sql$")
# Any fixed 64-bit key: every host's upgrade takes the same one. ("genesis" in ASCII.)
UPGRADE_LOCK_KEY = 0x67656E65736973


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def available(folder: Path | None = None) -> list[Migration]:
    """The migration files in version order; a misnamed file or a number used twice is a ConfigError."""
    migrations: dict[str, Migration] = {}
    for path in sorted((folder or MIGRATIONS_DIR).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ConfigError(f"migration file {path} is not named NNNN_lowercase_name.sql")
        if match["number"] in migrations:
            raise ConfigError(f"migrations {migrations[match['number']].path.name} and {path.name} share a number")
        migrations[match["number"]] = Migration(path.stem, path)
    return [migrations[number] for number in sorted(migrations)]


def applied_versions(conn: psycopg.Connection) -> set[str]:
    """Versions recorded in `schema_migrations` (none on an empty database)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def pending(url: str) -> list[str]:
    """Versions that `upgrade(url)` would apply."""
    with connect(url, autocommit=True) as conn:
        done = applied_versions(conn)
    return [m.version for m in available() if m.version not in done]


def require_current(conn: psycopg.Connection) -> None:
    """ConfigError unless every migration file is applied: a store must not run on an older schema."""
    done = applied_versions(conn)
    missing = [m.version for m in available() if m.version not in done]
    if missing:
        raise ConfigError(
            f"the database is not migrated (missing {', '.join(missing)}): run `genesis-payments db upgrade`"
        )


def upgrade(url: str, folder: Path | None = None) -> list[str]:
    """Apply every pending migration in version order; return the versions this call applied."""
    migrations = available(folder)
    newly: list[str] = []
    with connect(url, autocommit=True) as conn:
        # Held until this session ends: a second host waits here, then finds the files applied.
        conn.execute("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK_KEY,))
        done = applied_versions(conn)
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,))
            except psycopg.Error as exc:
                raise LedgerError(
                    f"migration {migration.version} failed on {redact_url(url)} and was rolled back "
                    f"({redact(' '.join(str(exc).split()))}); applied before it: {', '.join(newly) or 'none'}"
                ) from None
            newly.append(migration.version)
    return newly
