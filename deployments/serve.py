"""`genesis-payments serve`: every deployment of prefect.yaml on its schedule, in one process.

Starts a local Prefect server on 127.0.0.1 when `PREFECT_API_URL` is unset, fills an empty root
with demo data, serves the deployments (the same entries `prefect deploy --all` uses with a
worker pool), runs each job once at start so the UI has results, and stops on Ctrl-C without
pausing the schedules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from deployments.project import PROJECT_ROOT, DeploymentSpec, load_deployment_specs

SERVER_START_TIMEOUT = 180.0


def start_local_server(port: int, log_path: Path) -> subprocess.Popen:
    """`prefect server start` on loopback; returns once `/api/health` answers."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # kept open for the server's lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
    )
    wait_for_health(f"http://127.0.0.1:{port}/api", process)
    return process


def wait_for_health(api_url: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server at {api_url} did not answer within {SERVER_START_TIMEOUT:.0f} s")


def build_runner_deployments(specs: list[DeploymentSpec]) -> list:
    """RunnerDeployments equal to the prefect.yaml entries (schedules, limits, triggers)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.events import DeploymentEventTrigger
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron, Interval

    deployments = []
    for spec in specs:
        flow = load_flow_from_entrypoint(str(PROJECT_ROOT / spec.entrypoint))
        schedules = []
        for entry in spec.schedules:
            if "cron" in entry:
                schedules.append(Cron(entry["cron"], timezone=entry.get("timezone", "UTC"), slug=entry.get("slug")))
            else:
                schedules.append(Interval(entry["interval"], timezone=entry.get("timezone", "UTC"),
                                          slug=entry.get("slug")))
        limit = ConcurrencyLimitConfig(**spec.concurrency_limit) if spec.concurrency_limit else None
        triggers = [DeploymentEventTrigger(**trigger) for trigger in spec.triggers]
        deployments.append(
            flow.to_deployment(
                name=spec.name,
                description=spec.description or None,
                schedules=schedules,
                concurrency_limit=limit,
                triggers=triggers,
                parameters=spec.parameters,
                tags=spec.tags,
            )
        )
    return deployments


def after_registration(specs: list[DeploymentSpec], flow_names: dict[str, str], log: Callable[[str], None]) -> None:
    """Once the runner has registered the deployments: create the automations (they point at the
    notifier deployment), then start one run of each scheduled job so the UI has results at once."""
    from prefect.deployments import run_deployment

    from deployments.automations import ensure_automations

    names = {spec.name: f"{flow_names[spec.name]}/{spec.name}" for spec in specs}
    if not _wait_for_deployments(list(names.values())):
        log("the deployments did not appear within 2 minutes; no automations or first runs")
        return
    for automation in ensure_automations():
        log(f"automation ready: {automation}")
    for spec in specs:
        if spec.schedules:  # event-triggered and manual deployments wait for their event or a person
            run = run_deployment(names[spec.name], timeout=0, as_subflow=False)
            log(f"started {names[spec.name]}: flow run {run.name}")


def _wait_for_deployments(names: list[str], timeout: float = 120) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            try:
                for name in names:
                    client.read_deployment_by_name(name)
                return True
            except ObjectNotFound:
                time.sleep(1)
    return False


def say(message: str) -> None:
    # Flushed: under a process manager stdout is a pipe, and the UI address must show at once.
    print(message, flush=True)


def serve(*, prefect_port: int = 4200, log: Callable[[str], None] = say) -> None:
    from genesis_payments.settings import Settings
    from tasks.runtime_settings import load_runtime_settings

    server = None
    if not os.environ.get("PREFECT_API_URL"):
        log(f"starting a local Prefect server on 127.0.0.1:{prefect_port} …")
        server = start_local_server(prefect_port, Settings().state_dir / "prefect-server.log")
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"
        log(f"Prefect UI: http://127.0.0.1:{prefect_port}")
    try:
        # Live secrets may live in Secret blocks, so this waits for the server; exit 2 if one is missing.
        settings = load_runtime_settings().require_ready()
        _fill_empty_root(settings, log)
        specs = load_deployment_specs()
        deployments = build_runner_deployments(specs)
        flow_names = {spec.name: dep.flow_name for spec, dep in zip(specs, deployments, strict=True)}
        threading.Thread(target=after_registration, args=(specs, flow_names, log), daemon=True).start()
        from prefect import serve as prefect_serve

        # Schedules stay active when this process stops: a restart must not need a manual resume.
        prefect_serve(*deployments, pause_on_shutdown=False)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def _fill_empty_root(settings, log: Callable[[str], None]) -> None:
    if settings.transactions_path.exists():
        return
    try:
        from genesis_payments.demo import run_demo
    except ImportError:
        log("no demo generator available; starting with an empty root")
        return
    log(f"empty root {settings.root}: generating demo data …")
    planted = run_demo(settings)
    log(planted.describe() if hasattr(planted, "describe") else str(planted))

