"""Events other programs emit so that deployments react (the business-summary trigger)."""

from __future__ import annotations

from prefect.events import emit_event

BUSINESS_GENERATED = "genesis.business.generated"


def emit_business_generated(business_id: str) -> None:
    """Announce a generated business; the business-summary deployment runs on this event.

    The business id is both the resource's `genesis.business.id` label and `payload.business_id`,
    so a trigger may map either, e.g. `business_id: "{{ event.payload.business_id }}"`.
    """
    emit_event(
        event=BUSINESS_GENERATED,
        resource={"prefect.resource.id": f"genesis.business.{business_id}", "genesis.business.id": business_id},
        payload={"business_id": business_id},
    )
