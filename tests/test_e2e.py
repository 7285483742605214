"""End to end, as an operator runs it: a real Prefect server, the `genesis-payments` process pool,
`prefect --no-prompt deploy --all`, a worker, and runs triggered through the REST API.

The root is filled by `genesis-payments demo`, so every job has real findings to report.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deployments.project import PROJECT_ROOT
from tests.support.fake_discord import FakeDiscord
from tests.support.job_reports import assert_demo_findings, latest_report
from tests.support.prefect_server import PREFECT, PrefectStack, free_port

pytestmark = pytest.mark.slow  # a real Prefect server, worker pool and serve in every test

JOB_PARAMETERS = {
    "monitor-alerts": {},
    "stale-payments": {},
    "ledger-sync": {},
    "weekly-report": {},
    "business-summary": {"business_id": "biz-aurora"},
}
TEST_WALLET_KEY = "0x" + "11" * 32  # a throwaway key for the live-mode run; never funded anywhere


@pytest.fixture(scope="module")
def discord():
    with FakeDiscord() as server:
        yield server


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory, discord: FakeDiscord):
    root = tmp_path_factory.mktemp("e2e-root")
    demo = subprocess.run(
        [sys.executable, "-m", "genesis_payments", "--root", str(root), "demo", "--days", "10"],
        capture_output=True, text=True, timeout=300, env=_clean_env(),
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    exporter_port = free_port()
    stack = PrefectStack.start(
        tmp_path_factory.mktemp("e2e-prefect-home"),
        PROJECT_ROOT,
        {
            **_clean_env(),
            "GENESIS_ROOT": str(root),
            "PAYMENTS_USE_FAKE": "true",
            "GENESIS_EXPORTER_HOST": "127.0.0.1",
            "GENESIS_EXPORTER_PORT": str(exporter_port),
        },
    )
    try:
        stack.run([*PREFECT, "work-pool", "create", "genesis-payments", "--type", "process"])
        stack.run([*PREFECT, "--no-prompt", "deploy", "--all"])
        stack.spawn("worker", [*PREFECT, "worker", "start", "--pool", "genesis-payments"])
        yield stack, root, exporter_port, demo.stdout
    finally:
        stack.stop()


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()
            if not (k.startswith(("GENESIS_", "PREFECT_")) or k == "PAYMENTS_USE_FAKE")}


def test_every_job_deployment_runs_to_completed_with_its_report(e2e):
    stack, root, _, planted = e2e
    ids = stack.deployment_ids()
    runs = {job: stack.create_run(ids[job], parameters=params) for job, params in JOB_PARAMETERS.items()}
    for job, run_id in runs.items():
        run = stack.wait_for_state(run_id)
        assert run["state_type"] == "COMPLETED", f"{job}: {run['state']['message']}\n{stack.tail_logs()}"
    reports = {job: latest_report(root, job) for job in JOB_PARAMETERS}
    assert_demo_findings(reports)
    assert reports["business-summary"]["summary"]["business_id"] == "biz-aurora"
    outbox = [json.loads(line) for line in (root / "data/a2a-x402/outbox/discord.jsonl").read_text().splitlines()]
    assert {m["channel"] for m in outbox} == {"alerts", "dashboard"}
    assert "missing_in_ledger" in planted


def test_the_exporter_deployment_answers_on_its_port(e2e):
    stack, _, port, _ = e2e
    ids = stack.deployment_ids()
    stack.create_run(ids["exporter"])  # CANCEL_NEW drops it if the schedule already started one
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            if page.status_code == 200 and "payments_total{" in page.text:
                assert 'payment_wallet_balance{agent="support-agent"}' in page.text
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"the exporter never answered on 127.0.0.1:{port}\n{stack.tail_logs()}")


def test_a_sync_failing_on_discord_ends_failed_and_a_retry_completes(e2e, discord: FakeDiscord, tmp_path: Path):
    stack, root, _, _ = e2e
    # The same ledgers in a root of its own, so no alert state from the fake-mode runs applies.
    live_root = tmp_path / "live-root"
    for part in ("data/a2a-x402/transactions", "logs"):
        shutil.copytree(root / part, live_root / part)
    live = {
        "GENESIS_ROOT": str(live_root),
        "PAYMENTS_USE_FAKE": "false",
        "GENESIS_FACILITATOR_URL": "http://127.0.0.1:9/unused",
        "GENESIS_WALLET_PRIVATE_KEY": TEST_WALLET_KEY,
        "GENESIS_RPC_URL": "http://127.0.0.1:9/unused",
        "GENESIS_DISCORD_DASHBOARD_WEBHOOK_URL": discord.webhook_url("dashboard"),
        "GENESIS_DISCORD_ALERTS_WEBHOOK_URL": discord.webhook_url("alerts"),
        "GENESIS_DISCORD_ATTEMPTS": "2",
        "GENESIS_DISCORD_BACKOFF_SECONDS": "0.1",
        # Discord's failure is under test; the RPC above answers nothing, and a failing RPC fails the
        # run by itself (tests/test_chain_sync.py), so the chain side stays out of this one.
        "GENESIS_CHAIN_RECONCILIATION": "false",
    }
    discord.fail_next(500, times=None)
    run_id = stack.create_run(stack.deployment_ids()["ledger-sync"], job_variables={"env": live})
    failed = stack.wait_for_state(run_id)
    assert failed["state_type"] == "FAILED", stack.tail_logs()
    assert "500" in (failed["state"]["message"] or "") or failed["state"]["message"]
    assert discord.messages == []

    discord.heal()
    stack.retry(run_id)
    done = stack.wait_for_state(run_id, after_retry=True)
    assert done["state_type"] == "COMPLETED", stack.tail_logs()
    assert [m["channel"] for m in discord.messages].count("alerts") == 1
    logs = "\n".join(log.read_text(errors="replace") for log in stack.logs if log.exists())
    assert "secret-token" not in logs


def test_serve_starts_its_own_server_runs_every_job_once_and_stops_on_ctrl_c(e2e, tmp_path: Path):
    """The README's first command, minus the install: `genesis-payments serve` with no PREFECT_API_URL."""
    _, root, _, _ = e2e
    served_root = tmp_path / "served-root"
    for part in ("data/a2a-x402/transactions", "data/a2a-x402/fake", "logs"):
        # Not the world file: it names the processes (chain, sellers) running for the other root.
        shutil.copytree(root / part, served_root / part, ignore=shutil.ignore_patterns("world.json", "sellers.json"))
    shutil.copy(root / "data/a2a-x402/approval_log.jsonl", served_root / "data/a2a-x402/approval_log.jsonl")
    prefect_port, exporter_port = free_port(), free_port()
    env = {
        **_clean_env(),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GENESIS_ROOT": str(served_root),
        "GENESIS_EXPORTER_HOST": "127.0.0.1",
        "GENESIS_EXPORTER_PORT": str(exporter_port),
    }
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "genesis_payments", "serve", "--prefect-port", str(prefect_port)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        api = f"http://127.0.0.1:{prefect_port}/api"
        completed = _wait_for_completed_jobs(api, set(PLAYBOOK_JOBS), serve, log)
        assert completed == set(PLAYBOOK_JOBS)
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
        assert {d["name"] for d in deployments} >= {*PLAYBOOK_JOBS, "business-summary", "exporter"}
        assert not any(d["paused"] for d in deployments)
        assert httpx.get(f"http://127.0.0.1:{exporter_port}/metrics", timeout=10).status_code == 200
        assert f"Prefect UI: http://127.0.0.1:{prefect_port}" in log.read_text()
        chain_url = json.loads((served_root / "data/a2a-x402/fake/world.json").read_text())["chain"]["rpc_url"]
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            code = serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            raise
    assert code in (0, 130), log.read_text()[-3000:]
    # Ctrl-C stops everything serve started: the Prefect server, the exporter, the chain.
    for address in (f"http://127.0.0.1:{prefect_port}/api/health", f"http://127.0.0.1:{exporter_port}/metrics",
                    chain_url):
        assert not _answers(address), f"{address} still answers after serve stopped"


def _answers(address: str) -> bool:
    deadline = time.monotonic() + 10  # the processes serve stopped may take a moment to close their ports
    while time.monotonic() < deadline:
        try:
            httpx.get(address, timeout=1)
        except httpx.HTTPError:
            return False
        time.sleep(0.2)
    return True


PLAYBOOK_JOBS = ("monitor-alerts", "stale-payments", "ledger-sync", "weekly-report")


def _wait_for_completed_jobs(api: str, jobs: set[str], serve: subprocess.Popen, log: Path) -> set[str]:
    deadline = time.monotonic() + 240
    completed: set[str] = set()
    while time.monotonic() < deadline and completed != jobs:
        assert serve.poll() is None, log.read_text()[-3000:]
        try:
            runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
            flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}, timeout=10).json()}
            completed = {flows.get(r["flow_id"]) for r in runs if r["state_type"] == "COMPLETED"} & jobs
        except httpx.HTTPError:
            pass
        time.sleep(2)
    assert completed == jobs, f"completed {completed}\n{log.read_text()[-3000:]}"
    return completed
