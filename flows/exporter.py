"""Long-lived: serve the payment metrics (§6) to Prometheus for as long as the run lasts.

The `exporter` deployment runs this flow and never expects it to return. It has no retries (a
retry would restart a server that is meant to stay up) and no timeout. Self-healing comes from the
deployment instead: an interval schedule with `concurrency_limit {limit: 1, collision_strategy:
CANCEL_NEW}` starts a fresh exporter after a crash and cancels the new run while one is alive.

Cancelling the run (UI, `prefect flow-run cancel`) sends SIGTERM; Prefect turns it into an
exception in this flow, and leaving `serve_until` shuts the HTTP server down and frees the port.
"""

from __future__ import annotations

import threading

from prefect import flow, get_run_logger

from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer, serve_until
from tasks.runtime_settings import load_runtime_settings

# Set to end the flow cleanly from another thread (tests; an embedding process).
stop_requested = threading.Event()


@flow(name="exporter", retries=0, timeout_seconds=None)
def exporter(host: str | None = None, port: int | None = None) -> None:
    """Serve `/metrics` from the transaction log and wallet balances until cancelled."""
    settings = load_runtime_settings().require_ready()
    logger = get_run_logger()
    server = ExporterServer(
        PaymentsCollector(settings),
        host if host is not None else settings.exporter_host,
        port if port is not None else settings.exporter_port,
    )
    stop_requested.clear()
    try:
        serve_until(server, stop_requested, on_start=lambda bound: logger.info("serving metrics on port %d", bound))
    finally:
        logger.info("exporter stopped; port released")


if __name__ == "__main__":
    exporter()
