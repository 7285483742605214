"""Prefect tasks around PaymentManager: authorize (with a rollback that cancels), capture, cancel.

Facilitator calls are retried with exponential backoff and jitter only when the facilitator was
unavailable (timeout, connection error, 5xx): authorize is idempotent by key and capture by the
x402 payment-identifier, so a retry never charges twice. Refusals and rejections are not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task
from prefect.tasks import exponential_backoff
from prefect.transactions import Transaction, get_transaction

from genesis_payments.core.errors import PaymentsError
from genesis_payments.core.records import PaymentIntent
from genesis_payments.payments import FacilitatorUnavailable, PaymentManager, StagedPayment
from tasks.runtime_settings import load_runtime_settings

RETRIES = 3


def _facilitator_unavailable(_task: Any, _run: Any, state: Any) -> bool:
    try:
        state.result()
    except FacilitatorUnavailable:
        return True
    except Exception:
        return False
    return False


def payment_manager() -> PaymentManager:
    return PaymentManager(load_runtime_settings())


@task(retries=RETRIES, retry_delay_seconds=exponential_backoff(1), retry_jitter_factor=0.5,
      retry_condition_fn=_facilitator_unavailable)
def authorize_payment(intent: PaymentIntent, idempotency_key: str) -> StagedPayment:
    """Sign and verify the staged payment; the transaction remembers it for the rollback."""
    payment = payment_manager().authorize(intent, idempotency_key)
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
      retry_condition_fn=_facilitator_unavailable)
def capture_payment(payment_id: str) -> StagedPayment:
    """Settle the authorized payment once (a retry returns the same settlement)."""
    payment = payment_manager().capture(payment_id)
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
