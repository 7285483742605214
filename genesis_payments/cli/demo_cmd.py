"""`genesis-payments demo [--days N] [--seed S]`: fill the root with realistic fake activity.

Each generated business is announced as the Genesis generator would: with a Prefect server to
hear it (`PREFECT_API_URL` set, in the environment or the Prefect profile), as the event
`genesis.business.generated`, which the served `business-summary` deployment answers; without
one, the demo writes the spend summaries itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="fill the root with weeks of fake activity and planted problems")
    parser.add_argument("--days", type=int, default=21, help="days of activity, ending now (default 21)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from genesis_payments.demo import run_demo

    settings = load_settings()
    if not settings.use_fake:
        raise ConfigError("the demo spends fake money only: unset PAYMENTS_USE_FAKE or set it to true")
    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("replaying days", total=args.days)
        result = run_demo(
            settings, days=args.days, seed=args.seed, progress=lambda done, _total: bar.update(task, completed=done),
            on_business_generated=business_event_emitter(),
        )
    print(result.describe())
    return 0


def business_event_emitter() -> Callable[[str], None] | None:
    """The Prefect event emitter when a server is configured; None lets the demo summarise by itself."""
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url  # the environment or the active Prefect profile
    if not api_url:
        return None
    from tasks.events import emit_business_generated

    print(f"businesses announced as events to {api_url} (business-summary runs on them)", file=sys.stderr)
    return emit_business_generated


def _stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr)
