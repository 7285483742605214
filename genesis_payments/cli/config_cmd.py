"""`genesis-payments config`: the effective settings, every secret masked."""

from __future__ import annotations

import argparse
import json

from pydantic import ValidationError

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.jsonl import describe_validation_error


def load_settings() -> Settings:
    """Settings from the environment; invalid values become a ConfigError (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {describe_validation_error(exc)}") from None


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("config", help="print the effective settings, secrets masked")
    parser.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    print(json.dumps(settings.masked(), indent=2, default=str))
    settings.require_ready()  # after printing, so the operator sees what is set and what is not
    return 0
