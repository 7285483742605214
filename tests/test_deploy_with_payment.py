"""DeployAgent as a Prefect flow: success → captured + one debit; failure → cancelled, no debit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flows.deploy_with_payment import DeployAgent, deploy_with_payment
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from tests.support.payments import AGENT, approved_intent


@pytest.fixture
def funded(flow_env, world):
    return world


def statuses(settings):
    return [e.status for e in BusinessMonitor(settings).read_events().records]


def test_successful_deployment_is_captured_and_debited_once(funded):
    settings = funded.settings
    intent = approved_intent(settings)
    deployed = []
    payment = DeployAgent().deploy(intent, "deploy-ok-1", lambda: deployed.append("site") or "https://site",
                                   url=funded.url(intent.vendor, "/deploy"))
    assert deployed == ["site"]
    assert payment.status == "captured" and payment.tx_hash
    assert statuses(settings) == ["authorized", "settlement_pending", "captured"]
    (debit,) = FinanceLedger(settings).read_entries().records
    assert (debit.payment_id, debit.amount_usd) == (payment.payment_id, Decimal("2.5"))
    assert funded.balance(AGENT) == Decimal("7.5")


def test_failed_deployment_is_cancelled_and_not_debited(funded):
    settings = funded.settings
    intent = approved_intent(settings)

    def broken_deployment():
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        deploy_with_payment(intent, "deploy-broken-1", broken_deployment, funded.url(intent.vendor, "/deploy"))
    assert statuses(settings) == ["authorized", "cancelled"]
    cancelled = BusinessMonitor(settings).read_events().records[-1]
    assert cancelled.intent_id == intent.intent_id
    assert FinanceLedger(settings).read_entries().records == []
    assert funded.balance(AGENT) == Decimal("10")
