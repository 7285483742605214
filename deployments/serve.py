"""`genesis-payments serve`: every deployment of prefect.yaml on its schedule, in one process.

Starts a local Prefect server on 127.0.0.1 when `PREFECT_API_URL` is unset (on the PostgreSQL of
GENESIS_DATABASE_URL when it is set, §12: database `prefect` there), in fake mode the local
chain, its facilitator and the sellers (`deployments.fake_world`), fills an empty root
with demo data, serves the deployments (the same entries `prefect deploy --all` uses with a
worker pool), runs each job once at start so the UI has results, and stops on Ctrl-C without
pausing the schedules.

`--pool N` deploys the same entries to the process work pool instead and runs them with N workers
(deployments/pool.py); `--local-postgres` first starts a throwaway PostgreSQL cluster under the
root's data/a2a-x402/postgres/ and points GENESIS_DATABASE_URL at it (`make run-postgres`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from deployments.demo_runs import announce_businesses
from deployments.prefect_api import forget_api_url, record_api_url
from deployments.project import PROJECT_ROOT, DeploymentSpec, load_deployment_specs
from deployments.review_runs import open_pending_reviews

if TYPE_CHECKING:
    from genesis_payments.demo import DemoResult

SERVER_START_TIMEOUT = 180.0


def start_local_server(port: int, log_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`prefect server start` on loopback; returns once `/api/health` answers."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # kept open for the server's lifetime
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own session: Ctrl-C reaches the whole foreground group, and a server that died with it
        # would leave the runner and its flow runs retrying against nothing while they shut down.
        # serve stops it itself, last.
        start_new_session=True,
        # The UI asks its API address of the server: without this it assumes the default port 4200.
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
             "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api", **(extra_env or {})},
    )
    wait_for_health(f"http://127.0.0.1:{port}/api", process)
    return process


def prefect_server_env(log: Callable[[str], None]) -> dict[str, str]:
    """The local server's database: PostgreSQL when GENESIS_DATABASE_URL is set (§12), else Prefect's SQLite."""
    from genesis_payments.core.redaction import redact_url
    from genesis_payments.core.settings import Settings

    if os.environ.get("PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        log("Prefect server database: PREFECT_SERVER_DATABASE_CONNECTION_URL")
        return {}
    database_url = Settings().database_url
    if database_url is None:
        return {}
    from deployments.prefect_database import prefect_server_database_env

    env = prefect_server_database_env(database_url.get_secret_value())
    log(f"Prefect server database: {redact_url(env['PREFECT_SERVER_DATABASE_CONNECTION_URL'])}")
    return env


@contextlib.contextmanager
def local_postgres(log: Callable[[str], None]) -> Iterator[str]:
    """A throwaway cluster under the root's data/a2a-x402/postgres/, database `genesis` migrated to
    head and named by GENESIS_DATABASE_URL while inside; stopped on leaving (its files are kept)."""
    from genesis_payments.core.errors import ConfigError
    from genesis_payments.core.settings import Settings
    from genesis_payments.postgres.databases import ensure_database
    from genesis_payments.postgres.local_cluster import LocalCluster
    from genesis_payments.postgres.migrate import upgrade

    settings = Settings()
    if settings.database_url is not None:
        raise ConfigError("--local-postgres starts a cluster of its own: unset GENESIS_DATABASE_URL or drop the option")
    cluster = LocalCluster(settings.data_dir / "postgres")
    log(f"starting a throwaway PostgreSQL cluster in {cluster.folder} …")
    try:
        url = ensure_database(cluster.start(), "genesis")
        for version in upgrade(url):
            log(f"applied migration {version}")
        os.environ["GENESIS_DATABASE_URL"] = url
        log(f"PostgreSQL (throwaway): {url} (loopback only, trust authentication: never for real money)")
        yield url
    finally:
        os.environ.pop("GENESIS_DATABASE_URL", None)
        cluster.stop()
        log("PostgreSQL stopped")


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


def after_registration(
    specs: list[DeploymentSpec], flow_names: dict[str, str], log: Callable[[str], None], started: datetime,
    demo: DemoResult | None = None,
) -> None:
    """Once the runner has registered the deployments: mark runs a previous serve left behind as
    Crashed, create the automations (they point at the notifier deployment), then start one run of
    each scheduled job so the UI has results at once; a demo just generated gets its businesses
    announced, and every payment waiting for a person a paused approve-intent run."""
    from prefect.deployments import run_deployment

    from deployments.automations import ensure_automations
    from tasks.runtime_settings import load_runtime_settings

    names = {spec.name: f"{flow_names[spec.name]}/{spec.name}" for spec in specs}
    if not _wait_for_deployments(list(names.values())):
        log("the deployments did not appear within 2 minutes; no automations or first runs")
        return
    for run in crash_orphaned_runs(list(names.values()), started):
        log(f"marked {run} Crashed: it was left active by a serve that stopped")
    for automation in ensure_automations():
        log(f"automation ready: {automation}")
    for spec in specs:
        if spec.schedules:  # event-triggered and manual deployments wait for their event or a person
            run = run_deployment(names[spec.name], timeout=0, as_subflow=False)
            log(f"started {names[spec.name]}: flow run {run.name}")
    if demo is not None:
        announce_businesses(demo.businesses, names["business-summary"], log)
    open_pending_reviews(load_runtime_settings(), names["approve-intent"], log)


def crash_orphaned_runs(deployment_names: list[str], before: datetime) -> list[str]:
    """Mark Crashed the runs of these deployments that were active before `before`; their names.

    The served deployments' runs are executed by the serve process alone, so a run that has been
    Pending, Running or Cancelling since before this serve started was left by one that stopped
    (Ctrl-C, a reboot) before it could report. Left so, it would hold its deployment's concurrency
    slot for good: a long-lived exporter run never finishes, and no heartbeat may have been sent
    for the zombie automation to notice.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    active = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    crashed = []
    with get_client(sync_client=True) as client:
        ids = [client.read_deployment_by_name(name).id for name in deployment_names]
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=active))),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)),
        )
        for run in runs:
            if run.state is not None and run.state.timestamp < before:
                message = "Left active by a `genesis-payments serve` that stopped before the run could report."
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                crashed.append(run.name)
    return crashed


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


def serve(*, prefect_port: int = 4200, log: Callable[[str], None] = say, workers: int = 0) -> None:
    """Serve every deployment until Ctrl-C: in this process, or with `workers` > 0 on the process pool."""
    from genesis_payments.core.settings import Settings
    from tasks.runtime_settings import load_runtime_settings

    server = world = None
    if not os.environ.get("PREFECT_API_URL"):
        database_env = prefect_server_env(log)
        log(f"starting a local Prefect server on 127.0.0.1:{prefect_port} …")
        server = start_local_server(prefect_port, Settings().state_dir / "prefect-server.log", database_env)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"
        log(f"Prefect UI: http://127.0.0.1:{prefect_port}")
    record_api_url(Settings().state_dir, os.environ["PREFECT_API_URL"])  # `run` finds this server
    try:
        # Live secrets may live in Secret blocks, so this waits for the server; exit 2 if one is missing.
        settings = load_runtime_settings().require_ready()
        empty = _store_is_empty(settings)
        if settings.use_fake:
            from deployments.fake_world import start_fake_world

            if empty:
                _fresh_chain_for_the_demo(settings, log)
            world = start_fake_world(settings, log)  # chain → facilitator → sellers, before any job
        demo = _fill_empty_root(settings, log) if empty else None
        specs = load_deployment_specs()
        deployments = build_runner_deployments(specs)
        flow_names = {spec.name: dep.flow_name for spec, dep in zip(specs, deployments, strict=True)}
        started = datetime.now(UTC)
        if workers > 0:
            first_runs = lambda: after_registration(specs, flow_names, log, started, demo)  # noqa: E731
            serve_on_pool(workers, settings.state_dir, first_runs, log)
            return
        threading.Thread(target=after_registration, args=(specs, flow_names, log, started, demo), daemon=True).start()
        from prefect import serve as prefect_serve

        # Schedules stay active when this process stops: a restart must not need a manual resume.
        prefect_serve(*deployments, pause_on_shutdown=False)
    finally:
        if world is not None:
            world.stop()
        forget_api_url(Settings().state_dir)
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def serve_on_pool(workers: int, log_dir: Path, first_runs: Callable[[], None], log: Callable[[str], None]) -> None:
    """`prefect deploy --all` to the process pool, `workers` workers on it, the first runs; until Ctrl-C."""
    from deployments.pool import deploy_all, ensure_work_pool, running_workers, sigterm_as_interrupt, watch_workers
    from deployments.project import work_pool_name

    pool = work_pool_name()
    with sigterm_as_interrupt():
        ensure_work_pool(pool)
        log(f"prefect --no-prompt deploy --all (pool {pool}) …")
        deploy_all(log_dir / "prefect-deploy.log")
        with running_workers(workers, pool, log_dir, log) as started:
            first_runs()
            watch_workers(started)


def _store_is_empty(settings) -> bool:
    from genesis_payments.ledgers.sources import payment_event_follower

    return payment_event_follower(settings).probe() is None  # no log yet (file or PostgreSQL table)


def _fresh_chain_for_the_demo(settings, log: Callable[[str], None]) -> None:
    """ledger-sync reconciles the ledgers against the chain: a chain state saved by this root's other
    store (the files, then `make run-postgres`) or by ledgers since removed would show its transfers
    as unrecorded. The demo about to fill empty ledgers gets a chain that starts from genesis."""
    from genesis_payments.payments.fakes.local_chain import set_aside_state

    kept = set_aside_state(settings)
    if kept is not None:
        log(f"the ledgers are empty: the local chain starts afresh (its earlier state kept as {kept.name})")


def _fill_empty_root(settings, log: Callable[[str], None]) -> DemoResult:
    from genesis_payments.demo import run_demo

    log(f"empty root {settings.root}: generating demo data …")
    # Each finished business is announced once the trigger is live (after_registration), not now.
    demo = run_demo(settings, on_business_generated=lambda business_id: None)
    log(demo.describe())
    return demo

