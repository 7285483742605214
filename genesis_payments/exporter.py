"""The exporter process: the payments collector behind an HTTP `/metrics` endpoint.

`ExporterServer` owns one registry (never the global one) and one threaded HTTP server;
`serve_until` runs it until an event is set, which the CLI sets on SIGTERM/SIGINT and the Prefect
flow sets when its run is cancelled. Either way the server is shut down and the port released.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server

from genesis_payments.metrics import PaymentsCollector


class ExporterServer:
    def __init__(self, collector: PaymentsCollector, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(collector)
        self.host = host
        self.requested_port = port
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the exporter is not running")
        return self._server.server_port

    def start(self) -> ExporterServer:
        # Signals wait while the socket is bound and the thread started: a cancellation landing in
        # between would otherwise raise before the server is recorded, leaving the port held.
        # (The serving threads inherit the mask, so signals keep going to the main thread.)
        blocked = _block_signals()
        try:
            self._server, self._thread = start_http_server(
                self.requested_port, addr=self.host, registry=self.registry
            )
        finally:
            _restore_signals(blocked)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_until(server: ExporterServer, stop: threading.Event, on_start: Callable[[int], None] | None = None) -> None:
    """Serve until `stop` is set or an exception (e.g. Prefect's termination signal) interrupts."""
    try:
        server.start()
        if on_start is not None:
            on_start(server.port)
        # Waking once a second keeps the main thread able to take signals and exceptions.
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()


def _block_signals() -> set[signal.Signals] | None:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())


def _restore_signals(previous: set[signal.Signals] | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def stop_on_signals(
    stop: threading.Event, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
) -> Iterator[None]:
    """Set `stop` on SIGTERM/SIGINT for the duration; earlier handlers come back afterwards."""
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
