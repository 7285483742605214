"""`genesis-payments exporter [--host H] [--port P]`: the Prometheus exporter alone (§6, §10)."""

from __future__ import annotations

import argparse
import sys
import threading

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError
from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer, serve_until, stop_on_signals


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("exporter", help="serve the payment metrics for Prometheus until SIGTERM")
    parser.add_argument("--host", help="bind address (default GENESIS_EXPORTER_HOST, 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default GENESIS_EXPORTER_PORT, 9100; 0 picks a free one)")
    parser.set_defaults(handler=run_exporter)


def run_exporter(args: argparse.Namespace) -> int:
    settings = load_settings().require_ready()
    host = args.host if args.host is not None else settings.exporter_host
    port = args.port if args.port is not None else settings.exporter_port
    server = ExporterServer(PaymentsCollector(settings), host, port)
    stop = threading.Event()

    def announce(bound: int) -> None:
        print(f"genesis-payments exporter: serving http://{host}:{bound}/metrics", file=sys.stderr, flush=True)

    with stop_on_signals(stop):
        try:
            serve_until(server, stop, on_start=announce)
        except OSError as exc:  # the port is taken (9100 is node_exporter's default too) or not ours
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another with --port or GENESIS_EXPORTER_PORT"
            ) from None
    print("genesis-payments exporter: stopped", file=sys.stderr, flush=True)
    return 0
