"""Stand-in for the pgops foundation (replaced by theirs at merge): apply migrations/NNNN_name.sql in order."""

from __future__ import annotations

from pathlib import Path

from genesis_payments.postgres.connection import connect

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(url: str) -> list[str]:
    applied = []
    with connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY)")
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            if path.stem in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.stem,))
            applied.append(path.stem)
    return applied
