"""`genesis-payments serve`: the main job — every deployment on its schedule, plus the exporter."""

from __future__ import annotations

import argparse
import contextlib


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="serve every job on its schedule and the exporter (Prefect UI)")
    parser.add_argument("--prefect-port", type=int, default=4200,
                        help="port of the local Prefect server started when PREFECT_API_URL is unset")
    parser.add_argument("--pool", type=int, default=0, metavar="WORKERS",
                        help="deploy to the process work pool (prefect deploy --all) and run WORKERS workers on it")
    parser.add_argument("--local-postgres", action="store_true",
                        help="first start a throwaway PostgreSQL under the root (data/a2a-x402/postgres) and use it")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from genesis_payments.cli.config_cmd import load_settings
    from genesis_payments.core.errors import UsageError

    load_settings()  # an invalid environment is exit 2 before anything starts
    if args.pool < 0:
        raise UsageError("--pool takes the number of workers, 1 or more")
    from deployments.serve import local_postgres, say, serve

    with local_postgres(say) if args.local_postgres else contextlib.nullcontext():
        serve(prefect_port=args.prefect_port, workers=args.pool)
    return 0
