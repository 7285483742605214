"""`genesis-payments export DIR` / `import DIR` (§12): the files of §2 out of PostgreSQL, and back in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings
from genesis_payments.core.wording import counted


def register(commands: argparse._SubParsersAction) -> None:
    out = commands.add_parser("export", help="write the ledgers of §2 from the PostgreSQL store into DIR (a root)")
    out.add_argument("dir", metavar="DIR", help="a folder without ledgers; it becomes a root of §2's files")
    out.add_argument("--json", action="store_true", help="print what was written as JSON")
    out.set_defaults(handler=run_export)
    into = commands.add_parser("import", help="load the ledgers of §2 under DIR into the PostgreSQL store "
                                              "(checked first; idempotent)")
    into.add_argument("dir", metavar="DIR", help="a root holding §2's files (data/a2a-x402/…, logs/…)")
    into.add_argument("--json", action="store_true", help="print what was loaded as JSON")
    into.set_defaults(handler=run_import)


def _postgres_settings() -> Settings:
    settings = load_settings()
    if not settings.uses_postgres:
        raise ConfigError("export and import move records between the files of §2 and PostgreSQL: set "
                          "GENESIS_DATABASE_URL to the database")
    return settings


def run_export(args: argparse.Namespace) -> int:
    from genesis_payments.postgres.transfer import export_store

    done = export_store(_postgres_settings(), Path(args.dir))
    if args.json:
        print(json.dumps({"records": done.records}))
    else:
        for name, n in done.records.items():
            print(f"{name}: {counted(n, 'record')} written")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from genesis_payments.postgres.transfer import import_store

    done = import_store(_postgres_settings(), Path(args.dir))
    if args.json:
        print(json.dumps({"records": done.records, "loaded": done.loaded, "skipped": done.skipped}))
    else:
        for name, n in done.records.items():
            print(f"{name}: {counted(n, 'record')}, {done.loaded[name]} loaded, {done.skipped[name]} already there")
    return 0
