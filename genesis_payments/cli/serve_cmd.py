"""`genesis-payments serve`: the main job — every deployment on its schedule, plus the exporter."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="serve every job on its schedule and the exporter (Prefect UI)")
    parser.add_argument("--prefect-port", type=int, default=4200,
                        help="port of the local Prefect server started when PREFECT_API_URL is unset")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from genesis_payments.cli.config_cmd import load_settings

    load_settings()  # an invalid environment is exit 2 before anything starts
    from deployments.serve import serve

    serve(prefect_port=args.prefect_port)
    return 0
