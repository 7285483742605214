"""`serve` frees the concurrency slots of runs a previous serve left active (Ctrl-C, a reboot)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Pending, Running

from deployments.serve import crash_orphaned_runs


@flow(name="orphan-probe")
def orphan_probe() -> None:
    """Only registered, never run: its deployment's runs are given states by hand."""


def test_runs_active_since_before_serve_started_are_crashed_and_newer_ones_kept(flow_env) -> None:
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("orphan-probe")
        deployment_id = client.create_deployment(flow_id=flow_id, name="probe")
        other_id = client.create_deployment(flow_id=flow_id, name="other")
        left_running = client.create_flow_run_from_deployment(deployment_id, name="left-running")
        left_pending = client.create_flow_run_from_deployment(deployment_id, name="left-pending")
        elsewhere = client.create_flow_run_from_deployment(other_id, name="elsewhere")
        for run in (left_running, elsewhere):
            client.set_flow_run_state(run.id, Running(), force=True)
        client.set_flow_run_state(left_pending.id, Pending(), force=True)
        started = datetime.now(UTC)
        time.sleep(0.05)
        new = client.create_flow_run_from_deployment(deployment_id, name="started-since")
        client.set_flow_run_state(new.id, Running(), force=True)

        crashed = crash_orphaned_runs(["orphan-probe/probe"], started)

        assert sorted(crashed) == ["left-pending", "left-running"]
        states = {name: client.read_flow_run(run.id).state
                  for name, run in [("left-running", left_running), ("left-pending", left_pending),
                                    ("elsewhere", elsewhere), ("started-since", new)]}
    assert states["left-running"].is_crashed() and "serve" in states["left-running"].message
    assert states["left-pending"].is_crashed()
    assert states["elsewhere"].is_running()  # another deployment's run is not this serve's to judge
    assert states["started-since"].is_running()
