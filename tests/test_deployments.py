"""prefect.yaml, checked without a server: entrypoints import, parameters fit, schedules are the playbook's."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml

from deployments.project import PREFECT_YAML, PROJECT_ROOT, load_deployment_specs

PLAYBOOK_CRONS = {
    "monitor-alerts": "0 * * * *",
    "stale-payments": "0 * * * *",
    "ledger-sync": "0 3 * * *",
    "weekly-report": "0 4 * * 1",
}
SPECS = load_deployment_specs()
BY_NAME = {spec.name: spec for spec in SPECS}


def load_entrypoint(entrypoint: str):
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(str(PROJECT_ROOT / entrypoint))


def test_every_job_of_the_contract_has_a_deployment():
    assert set(PLAYBOOK_CRONS) | {"business-summary", "exporter"} <= set(BY_NAME)


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_entrypoint_imports_and_parameters_match_the_flow(spec):
    flow = load_entrypoint(spec.entrypoint)
    signature = inspect.signature(flow.fn)
    given = set(spec.parameters)
    for trigger in spec.triggers:
        given |= set(trigger.get("parameters", {}))
    assert given <= set(signature.parameters), f"{spec.name}: unknown parameters {given - set(signature.parameters)}"
    required = {name for name, p in signature.parameters.items() if p.default is inspect.Parameter.empty}
    if spec.schedules or spec.triggers:
        # A run the server starts by itself must have every required parameter.
        assert required <= given, f"{spec.name}: scheduled or triggered without {required - given}"


@pytest.mark.parametrize("job, cron", sorted(PLAYBOOK_CRONS.items()))
def test_cron_is_the_playbooks_in_utc_with_a_stable_slug(job, cron):
    schedules = BY_NAME[job].schedules
    assert [s["cron"] for s in schedules] == [cron]
    assert all(s["timezone"] == "UTC" and s.get("slug") for s in schedules)


def test_scheduled_jobs_never_run_twice_at_once():
    for spec in SPECS:
        if spec.schedules:
            assert spec.concurrency_limit == {"limit": 1, "collision_strategy": "CANCEL_NEW"}, spec.name


def test_business_summary_runs_on_its_event():
    (trigger,) = BY_NAME["business-summary"].triggers
    assert trigger["expect"] == ["genesis.business.generated"]
    assert trigger["parameters"] == {"business_id": "{{ event.payload.business_id }}"}


def test_exporter_is_long_lived_without_retries_or_timeout():
    spec = BY_NAME["exporter"]
    flow = load_entrypoint(spec.entrypoint)
    assert flow.retries in (0, None) and flow.timeout_seconds is None
    assert any("interval" in s for s in spec.schedules)  # a crashed exporter comes back


def test_every_deployment_uses_the_process_pool_and_templates_no_secret():
    document = yaml.safe_load(PREFECT_YAML.read_text())
    assert document["definitions"]["work_pool"]["name"] == "genesis-payments"
    for entry in document["deployments"]:
        assert entry["work_pool"]["name"] == "genesis-payments"
    text = Path(PREFECT_YAML).read_text()
    assert not re.search(r"\{\{\s*prefect\.blocks", text), "secrets are loaded at run time, never templated"
    assert not re.search(r"(?i)webhook_url|private_key", text)
