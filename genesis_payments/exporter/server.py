"""The exporter process: the payments collector behind an HTTP `/metrics` endpoint.

`ExporterServer` owns one registry (never the global one; also for in-process readers such as
`get_sample_value`) and one threaded HTTP server, which serves prometheus-client's own exposition of
that registry (`generate_latest`) on `/metrics` and `/`, gzipped when the scraper asks for it, as
Prometheus does.

`serve_until` runs it until an event is set (the CLI sets it on SIGTERM/SIGINT) or an exception
interrupts the wait (Prefect turns the SIGTERM of a cancelled run into one). Either way the server
is shut down and the port released.
"""

from __future__ import annotations

import gzip
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from genesis_payments.exporter.metrics import PaymentsCollector


class ExporterServer:
    def __init__(self, collector: PaymentsCollector, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(collector)
        self.collector = collector
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
        # Part of starting: import and load the readers before the port is served, so the first
        # scrape pays only for reading the log.
        self.collector.prepare()
        # Signals wait while the socket is bound and the thread started: a cancellation landing in
        # between would otherwise raise before the server is recorded, leaving the port held.
        # (The serving threads inherit the mask, so signals keep going to the main thread.)
        blocked = _block_signals()
        try:
            self._server = _make_server(self.host, self.requested_port, _metrics_app(self.registry))
            # A short poll: a stop (shutdown) waits for the loop to look, 0.5 s by default.
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="genesis-exporter", daemon=True)
            self._thread.start()
        finally:
            _restore_signals(blocked)
        return self

    def warm_up(self) -> threading.Thread:
        """Read the log once in the background, so a large log's first read is not paid by a scrape
        (a million events take seconds; Prometheus' default scrape timeout is 10 s). A scrape that
        arrives meanwhile waits for it and then costs only what was appended since."""
        thread = threading.Thread(target=generate_latest, args=(self.registry,), name="genesis-exporter-warm-up",
                                  daemon=True)
        thread.start()
        return thread

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


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one line per scrape is noise
        pass


def _make_server(host: str, port: int, app: Callable) -> WSGIServer:
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    return make_server(host, port, app, Server, handler_class=_QuietHandler)


def _metrics_app(registry: CollectorRegistry) -> Callable:
    def app(environ: dict, start_response: Callable) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            # A scrape is a GET; anything else (POST, PUT, BREW …) is refused, not answered with metrics.
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"method not allowed: GET or HEAD /metrics\n"]
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are on /metrics\n"]
        body = generate_latest(registry)
        headers = [("Content-Type", CONTENT_TYPE_LATEST)]
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = gzip.compress(body, compresslevel=1)  # fastest level: most of the gain, little CPU
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]

    return app


def serve_until(
    server: ExporterServer,
    stop: threading.Event,
    on_start: Callable[[int], None] | None = None,
    warm_up: bool = True,
) -> None:
    """Serve until `stop` is set or an exception (e.g. Prefect's termination signal) interrupts."""
    try:
        server.start()
        if warm_up:
            server.warm_up()
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
