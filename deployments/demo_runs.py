"""What `serve` does with a freshly generated demo once the deployments are live.

The demo runs before the deployments are registered, so the businesses it finished are announced
here, once the business-summary trigger exists (an event nobody listens to yet starts nothing).
The intent it left waiting for review gets its paused run with the others (`review_runs`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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
