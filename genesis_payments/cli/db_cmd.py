"""`genesis-payments db upgrade`: bring the PostgreSQL store of §12 to the schema of this code.

Needs GENESIS_DATABASE_URL. Safe to run from several hosts at once and again and again: each
migration is applied once, whole, in version order (genesis_payments/postgres/migrate.py).
"""

from __future__ import annotations

import argparse

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError
from genesis_payments.postgres.migrate import upgrade


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("db", help="the PostgreSQL store (GENESIS_DATABASE_URL): schema migrations")
    actions = parser.add_subparsers(dest="db_action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", help="apply every pending schema migration (idempotent)")
    up.set_defaults(handler=run_upgrade)


def database_url() -> str:
    settings = load_settings()
    if settings.database_url is None:
        raise ConfigError("GENESIS_DATABASE_URL is not set: it names the PostgreSQL store, e.g. "
                          "postgresql://genesis_admin@db.example:5432/genesis?sslmode=verify-full")
    return settings.database_url.get_secret_value()


def run_upgrade(args: argparse.Namespace) -> int:
    applied = upgrade(database_url())
    print("\n".join(f"applied {version}" for version in applied) if applied else "up to date")
    return 0
