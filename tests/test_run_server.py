"""`run JOB` uses the Prefect server that `serve` records (or PREFECT_API_URL) when it answers, and says
so when it must start a temporary one instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.prefect_api import candidates, forget_api_url, record_api_url, recorded_api_url, running_api_url
from genesis_payments.cli.run_cmd import use_running_server
from tests.support.prefect_server import free_port

REPO = Path(__file__).resolve().parents[1]


def test_the_record_serve_writes_is_found_and_forgotten(settings) -> None:
    record_api_url(settings.state_dir, "http://127.0.0.1:1/api")
    assert recorded_api_url(settings.state_dir) == "http://127.0.0.1:1/api"
    assert candidates(settings.state_dir) == ["http://127.0.0.1:1/api"]
    forget_api_url(settings.state_dir)
    assert recorded_api_url(settings.state_dir) is None


def test_no_answering_server_is_said_and_the_dead_address_dropped(settings, monkeypatch, capsys) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    dead = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", dead)
    assert running_api_url(settings.state_dir) is None
    with temporary_settings(updates={PREFECT_API_URL: dead}):  # whatever server this session runs
        use_running_server(settings.state_dir)
    err = capsys.readouterr().err
    assert f"no Prefect server answered ({dead})" in err and "starting a temporary one" in err
    assert "PREFECT_API_URL" not in os.environ


@pytest.mark.slow
def test_run_goes_to_the_server_serve_recorded(flow_env, settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    record_api_url(settings.state_dir, api)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PYTHONPATH=str(REPO), GENESIS_ROOT=str(settings.root))
    done = subprocess.run([sys.executable, "-m", "genesis_payments", "run", "stale-payments", "--json"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "temporary" not in done.stderr
    assert json.loads(done.stdout)["job"] == "stale-payments"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["stale-payments"])))
    assert any(run.state is not None and run.state.is_completed() for run in runs)
