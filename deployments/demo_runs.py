"""What `serve` does with a freshly generated demo once the deployments are live.

The demo runs before the deployments are registered, so the businesses it finished are announced
here, once the business-summary trigger exists (an event nobody listens to yet starts nothing),
and the intent it left waiting for review becomes a paused approve-intent run with its form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from genesis_payments.core.records import PaymentIntent
from genesis_payments.core.wording import counted

TRIGGER_WAIT_SECONDS = 60.0


def announce_businesses(business_ids: Sequence[str], deployment_name: str, log: Callable[[str], None]) -> None:
    """Emit `genesis.business.generated` for each business, once the deployment's trigger is live."""
    from tasks.events import emit_business_generated

    if not business_ids:
        return
    if not _wait_for_trigger(deployment_name):
        log(f"no trigger on {deployment_name} after {TRIGGER_WAIT_SECONDS:.0f} s; businesses not announced")
        return
    for business_id in business_ids:
        emit_business_generated(business_id)
    announced = counted(len(business_ids), "generated business", "generated businesses")
    log(f"announced {announced} ({', '.join(business_ids)}): {deployment_name} runs once for each")


def open_review(intent: PaymentIntent, deployment_name: str, log: Callable[[str], None]) -> str | None:
    """Start an approve-intent run for `intent`; it pauses with its form. Returns the run's UI address."""
    from prefect.deployments import run_deployment
    from prefect.utilities.urls import url_for

    run = run_deployment(deployment_name, parameters={"intent": intent.to_json_dict()}, timeout=0, as_subflow=False)
    address = url_for(run)
    log(f"review waiting for a person: intent {intent.intent_id} ({intent.cost_usd} USDC) — open {address} "
        "and press Resume (or `genesis-payments review list`)")
    return address


def _wait_for_trigger(deployment_name: str) -> bool:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + TRIGGER_WAIT_SECONDS
    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(deployment_name).id
        while time.monotonic() < deadline:
            if client.read_resource_related_automations(f"prefect.deployment.{deployment_id}"):
                return True
            time.sleep(1)
    return False
