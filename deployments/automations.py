"""The two automations an operator needs on a self-hosted Prefect server.

- `genesis-payments: failed runs to alerts`: a Failed or Crashed run of any Genesis job starts the
  `notify-failure` deployment, which posts the run to the alerts channel through `GenesisDiscord`
  (so fake mode writes the outbox and live mode never puts the webhook URL in Prefect). The
  notifier's own runs are not watched, so a Discord outage cannot loop.
- `genesis-payments: crash zombie runs`: a run that stops sending heartbeats for 3 × 180 s is
  marked Crashed, so it frees its concurrency slot (prefect-notes §2.6).

Run `python -m deployments.automations` after `prefect deploy --all`; `serve` calls it itself.
"""

from __future__ import annotations

from datetime import timedelta

from deployments.project import load_deployment_specs

FAILURE_AUTOMATION = "genesis-payments: failed runs to alerts"
ZOMBIE_AUTOMATION = "genesis-payments: crash zombie runs"
NOTIFIER = "notify-failure"
HEARTBEAT_WINDOW = timedelta(seconds=540)


def watched_deployments() -> list[str]:
    return [spec.name for spec in load_deployment_specs() if spec.name != NOTIFIER]


def build_automations(notifier_deployment_id) -> list:
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState, RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    failures = Automation(
        name=FAILURE_AUTOMATION,
        description="Post Failed or Crashed Genesis job runs to the alerts channel.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "deployment", "prefect.resource.name": watched_deployments()},
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=notifier_deployment_id,
                parameters={
                    "flow_run_id": "{{ event.resource.id }}",
                    "flow_run_name": "{{ event.resource.name }}",
                    "state": "{{ event.event }}",
                },
            )
        ],
    )
    zombies = Automation(
        name=ZOMBIE_AUTOMATION,
        description="Mark runs whose heartbeats stopped as Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=HEARTBEAT_WINDOW,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message="No heartbeat for 540 s: the process running this flow is gone.",
            )
        ],
    )
    return [failures, zombies]


def ensure_automations() -> list[str]:
    """Create (or replace) both automations; returns their names. Needs the notifier deployment."""
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        notifier = next(d for d in client.read_deployments() if d.name == NOTIFIER)
    names = []
    for automation in build_automations(notifier.id):
        try:
            Automation.read(name=automation.name).delete()
        except ValueError:
            pass  # not there yet
        automation.create()
        names.append(automation.name)
    return names


if __name__ == "__main__":
    for created in ensure_automations():
        print(f"automation ready: {created}")
