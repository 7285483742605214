"""`genesis-payments schemas`: regenerate docs/schemas and docs/records.md from the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from genesis_payments.core.schema_docs import write_schema_docs


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("schemas", help="write the records' JSON Schemas into docs/")
    parser.add_argument("--docs", default="docs", help="docs folder (default: ./docs)")
    parser.set_defaults(handler=run_schemas)


def run_schemas(args: argparse.Namespace) -> int:
    for path in write_schema_docs(Path(args.docs)):
        print(path)
    return 0
