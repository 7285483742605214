"""DeployAgent: a deployment paid for with a staged payment.

Playbook: "DeployAgent wraps long deployments in authorize / capture / cancel." The authorization
(a signed payment for the vendor seller's live price) is taken before the deployment starts,
captured after it succeeds, and cancelled by the authorize task's rollback hook when the
deployment fails or raises, so a failed deployment always ends `cancelled` with nothing charged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.transactions import transaction

from genesis_payments.core.records import PaymentIntent
from genesis_payments.payments import StagedPayment
from tasks.payments import authorize_payment, capture_payment, run_deployment


@flow(name="deploy-with-payment")
def deploy_with_payment(intent: PaymentIntent, idempotency_key: str, deployment: Callable[[], Any],
                        url: str | None = None) -> StagedPayment:
    """Authorize, deploy, capture; any failure rolls back to a cancelled authorization."""
    with transaction():
        payment = authorize_payment(intent, idempotency_key, url)
        run_deployment(deployment)
        captured = capture_payment(payment.payment_id)
    return captured


class DeployAgent:
    """The playbook's DeployAgent: `deploy(intent, idempotency_key, deployment)` runs the flow."""

    def deploy(self, intent: PaymentIntent, idempotency_key: str, deployment: Callable[[], Any],
               url: str | None = None) -> StagedPayment:
        """Buy the deployment from the vendor's seller (`url`, or the vendor's own) around running it."""
        return deploy_with_payment(intent, idempotency_key, deployment, url)
