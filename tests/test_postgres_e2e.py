"""§12 end to end, as a newcomer runs it (`make run-postgres`): `genesis-payments serve --local-postgres
--pool 2` starts a throwaway PostgreSQL under the root, migrates it, runs the Prefect server on it
(database `prefect`), deploys prefect.yaml with `prefect deploy --all` to the process pool and runs
two workers, and fills the empty store with the demo; every scheduled job's first run completes with
the findings the demo plants (the same assertions as tests/test_e2e.py's on files); Ctrl-C stops
every process it started.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from deployments.pool import descendants
from deployments.project import PROJECT_ROOT, load_deployment_specs, work_pool_name
from genesis_payments.core.processes import pid_alive
from genesis_payments.postgres.connection import connect
from genesis_payments.postgres.local_cluster import LocalCluster
from genesis_payments.postgres.migrate import available
from tests.support.job_reports import assert_demo_findings, latest_report
from tests.support.prefect_server import TERMINAL, free_port

pytestmark = pytest.mark.slow

BATCH_JOBS = sorted(spec.name for spec in load_deployment_specs() if spec.schedules and not spec.long_lived)
DEADLINE_SECONDS = 150


def test_serve_on_postgres_with_two_pool_workers_completes_every_job_and_stops_everything(tmp_path):
    # Under /tmp and open to others: the cluster's server runs as `postgres`, pytest's folders are root's alone.
    root = Path(tempfile.mkdtemp(prefix="genesis-pg-e2e-"))
    root.chmod(0o755)
    # The root is empty, so serve fills the PostgreSQL store with the demo, as `make run-postgres` does.
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **{k: v for k, v in os.environ.items()
           if not (k.startswith(("GENESIS_", "PREFECT_")) or k == "PAYMENTS_USE_FAKE")},
        "GENESIS_ROOT": str(root),
        "GENESIS_EXPORTER_HOST": "127.0.0.1",
        "GENESIS_EXPORTER_PORT": str(free_port()),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    }
    out_path = tmp_path / "serve.out"
    with open(out_path, "wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "genesis_payments", "serve", "--local-postgres", "--pool", "2",
             "--prefect-port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    seen: set[int] = set()
    try:
        runs = _wait_for_first_runs(api, serve, out_path, seen)
        for job in BATCH_JOBS:
            assert runs[job]["state_type"] == "COMPLETED", f"{job}: {runs[job]['state']}\n{_tail(out_path, root)}"
        assert "generating demo data" in out_path.read_text()
        assert_demo_findings({job: latest_report(root, job) for job in BATCH_JOBS})  # as test_e2e's on files
        assert not (root / "data/a2a-x402/transactions/transactions.jsonl").exists()  # the store is the database

        workers = httpx.post(f"{api}/work_pools/{work_pool_name()}/workers/filter", json={}, timeout=10).json()
        assert len([w for w in workers if w["status"] == "ONLINE"]) == 2
        url = re.search(r"PostgreSQL \(throwaway\): (\S+)", out_path.read_text())[1]
        with connect(url) as conn:  # the store is migrated to head
            versions = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            assert versions == {m.version for m in available()}
        with connect(url.rsplit("/", 1)[0] + "/prefect") as conn:  # and Prefect keeps its runs there
            completed = conn.execute("SELECT count(*) FROM flow_run WHERE state_type = 'COMPLETED'").fetchone()[0]
            assert completed >= len(BATCH_JOBS)

        seen.update(descendants(serve.pid))
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=60) in (0, 130), _tail(out_path, root)
        assert "PostgreSQL stopped" in out_path.read_text()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in seen):
            time.sleep(0.2)
        left = [pid for pid in seen if pid_alive(pid)]
        assert not left, f"processes left running: {[_command(pid) for pid in left]}"
        assert not LocalCluster(root / "data/a2a-x402/postgres").is_running()
    finally:
        seen.update(descendants(serve.pid))
        with_leftovers = [pid for pid in seen if pid_alive(pid)]
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
        for pid in with_leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        LocalCluster(root / "data/a2a-x402/postgres").stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_first_runs(api: str, serve: subprocess.Popen, out_path: Path, seen: set[int]) -> dict[str, dict]:
    """The first terminal run of each batch job (the runs serve starts at once), by deployment name."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert serve.poll() is None, f"serve exited with {serve.returncode}:\n{out_path.read_text()[-3000:]}"
        seen.update(descendants(serve.pid))  # every process it starts, to check none is left at the end
        try:
            deployments = {d["id"]: d["name"] for d in
                           httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()}
            flow_runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
        except (httpx.HTTPError, ValueError):
            time.sleep(1)
            continue
        done: dict[str, dict] = {}
        for run in flow_runs:
            name = deployments.get(run["deployment_id"])
            if name in BATCH_JOBS and run["state_type"] in TERMINAL:
                done.setdefault(name, run)
        if set(done) == set(BATCH_JOBS):
            return done
        time.sleep(1)
    raise AssertionError(f"not every job ran within {DEADLINE_SECONDS} s:\n{out_path.read_text()[-3000:]}")


def _command(pid: int) -> str:
    try:
        return f"{pid} " + Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return str(pid)


def _tail(out_path: Path, root: Path) -> str:
    parts = [out_path.read_text()[-2000:]]
    for log in sorted((root / "data/a2a-x402/state").glob("prefect-*.log")):
        parts.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-2000:])
    return "\n".join(parts)
