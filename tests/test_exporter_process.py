"""The exporter as a process: the CLI command stops cleanly on SIGTERM; the Prefect flow serves and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.exporter import append_lines, fetch, one_shot, parse_samples, sample
from tests.support.prefect_server import free_port

WORKTREE = Path(__file__).resolve().parent.parent


def wait_for_metrics(port: int, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return fetch(f"http://127.0.0.1:{port}/metrics", timeout=1)[1]
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"no exporter answered on port {port} within {seconds}s")


def port_is_free(port: int) -> bool:
    """Nothing listens there any more (a connection is refused)."""
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_exporter_serves_then_stops_cleanly_on_signal(settings, stop_signal: int) -> None:
    append_lines(settings.transactions_path, [
        *one_shot("e1", "p1", "2026-11-26T03:00:00.000000+00:00", amount_usd="2.5")])
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "genesis_payments", "exporter", "--host", "127.0.0.1", "--port", str(port)],
        cwd=WORKTREE, env={**os.environ, "PYTHONPATH": str(WORKTREE)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        samples = parse_samples(wait_for_metrics(port))
        assert sample(samples, "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == 2.5
        process.send_signal(stop_signal)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in err
    assert port_is_free(port)


def test_cli_exporter_names_a_taken_port(settings) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "genesis_payments", "exporter", "--host", "127.0.0.1", "--port", str(port)],
            cwd=WORKTREE, env={**os.environ, "PYTHONPATH": str(WORKTREE)},
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_exporter_flow_serves_until_stopped(flow_env, settings) -> None:
    from flows.exporter import exporter, stop_requested

    append_lines(settings.transactions_path, [
        *one_shot("e1", "p1", "2026-11-26T03:00:00.000000+00:00", amount_usd="1.5")])
    port = free_port()
    seen: list[str] = []

    def scrape_then_stop() -> None:
        try:
            seen.append(wait_for_metrics(port))
        finally:
            stop_requested.set()

    helper = threading.Thread(target=scrape_then_stop)
    helper.start()
    state = exporter(host="127.0.0.1", port=port, return_state=True)
    helper.join(timeout=30)

    assert state.is_completed()
    assert sample(parse_samples(seen[0]), "payment_spend_usd_total", agent="agent-a", vendor="vendor-x") == 1.5
    assert port_is_free(port)


def test_exporter_flow_has_no_retries_and_no_timeout() -> None:
    from flows.exporter import exporter

    assert exporter.name == "exporter"
    assert exporter.retries == 0
    assert exporter.timeout_seconds is None


def test_an_exception_from_a_signal_handler_shuts_the_server_down(settings) -> None:
    """Prefect cancels a run by SIGTERM, which its handler turns into an exception in the flow."""
    from genesis_payments.exporter.metrics import PaymentsCollector
    from genesis_payments.exporter.server import ExporterServer, serve_until

    class Cancelled(Exception):
        pass

    def raise_cancelled(signum, frame):
        raise Cancelled

    port = free_port()
    previous = signal.signal(signal.SIGUSR1, raise_cancelled)
    timer = threading.Thread(target=lambda: (wait_for_metrics(port), os.kill(os.getpid(), signal.SIGUSR1)))
    try:
        timer.start()
        with pytest.raises(Cancelled):
            serve_until(ExporterServer(PaymentsCollector(settings), "127.0.0.1", port), threading.Event())
    finally:
        timer.join(timeout=10)
        signal.signal(signal.SIGUSR1, previous)
    assert port_is_free(port)
