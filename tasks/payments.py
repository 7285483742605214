"""Prefect tasks around PaymentManager: authorize (with a rollback that cancels), capture, cancel.

Retried with exponential backoff and jitter only where the outcome is unknown: an authorize whose
seller could not be reached (idempotent by key), and a capture left `settlement_pending` (its retry
re-sends the same signed payload, so it never charges twice). Refusals are not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task
from prefect.tasks import exponential_backoff
from prefect.transactions import Transaction, get_transaction

from genesis_payments.core.errors import PaymentsError
from genesis_payments.core.records import PaymentIntent
from genesis_payments.payments import ChallengeError, PaymentManager, SettlementPending, StagedPayment
from tasks.runtime_settings import load_runtime_settings

RETRIES = 3


def _outcome_unknown(_task: Any, _run: Any, state: Any) -> bool:
    try:
        state.result()
    except (SettlementPending, ChallengeError):
        return True
    except Exception:
        return False
    return False


def payment_manager() -> PaymentManager:
    return PaymentManager(load_runtime_settings())


@task(retries=RETRIES, retry_delay_seconds=exponential_backoff(1), retry_jitter_factor=0.5,
      retry_condition_fn=_outcome_unknown)
def authorize_payment(intent: PaymentIntent, idempotency_key: str, url: str | None = None) -> StagedPayment:
    """Quote the seller and sign the staged payment; the transaction remembers it for the rollback."""
    payment = payment_manager().authorize(intent, idempotency_key, url=url)
    transaction = get_transaction()
    if transaction is not None:
        transaction.set("payment_id", payment.payment_id)
    get_run_logger().info("authorized %s for %s USDC", payment.payment_id, payment.amount_usd)
    return payment


@authorize_payment.on_rollback
def cancel_authorization(transaction: Transaction) -> None:
    """The work after authorize failed: void the authorization so nothing is charged."""
    payment_id = transaction.get("payment_id", None)
    if payment_id is None:
        return
    try:
        payment = payment_manager().cancel(payment_id)
    except PaymentsError as exc:
        # Already settled or outcome unknown: leave it for capture / the stale-payments job.
        get_run_logger().warning("could not cancel %s after a failed deployment: %s", payment_id, exc)
        return
    get_run_logger().info("cancelled %s after a failed deployment", payment.payment_id)


@task(retries=RETRIES, retry_delay_seconds=exponential_backoff(1), retry_jitter_factor=0.5,
      retry_condition_fn=_outcome_unknown)
def capture_payment(payment_id: str) -> StagedPayment:
    """Send the paid request; a retry re-sends the same payload and ends with one charge."""
    payment = payment_manager().capture(payment_id).payment
    get_run_logger().info("payment %s is %s", payment.payment_id, payment.status)
    return payment


@task
def cancel_payment(payment_id: str) -> StagedPayment:
    """Void an authorized payment."""
    return payment_manager().cancel(payment_id)


@task
def run_deployment(deployment: Callable[[], Any]) -> Any:
    """Run the deployment itself; an exception (or a False result) fails the staged payment."""
    result = deployment()
    if result is False:
        raise RuntimeError("deployment reported failure")
    return result
