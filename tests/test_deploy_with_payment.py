"""DeployAgent as a Prefect flow: success → captured + one debit; failure → cancelled, no debit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flows.deploy_with_payment import DeployAgent, deploy_with_payment
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.payments import fund_fake_wallets
from tests.support.chain import usdc_balance
from tests.support.payments import AGENT, approved_intent

# Payments settle on the real local chain (one anvil per session, reverted after each test).
pytestmark = pytest.mark.usefixtures("local_chain")


@pytest.fixture
def funded(flow_env):
    settings = Settings()
    fund_fake_wallets(settings, {AGENT: Decimal("10")})
    return settings


def statuses(settings):
    return [e.status for e in BusinessMonitor(settings).read_events().records]


def test_successful_deployment_is_captured_and_debited_once(funded):
    intent = approved_intent(funded)
    deployed = []
    payment = DeployAgent().deploy(intent, "deploy-ok-1", lambda: deployed.append("site") or "https://site")
    assert deployed == ["site"]
    assert payment.status == "captured" and payment.tx_hash
    assert statuses(funded) == ["authorized", "captured"]
    (debit,) = FinanceLedger(funded).read_entries().records
    assert (debit.payment_id, debit.amount_usd) == (payment.payment_id, Decimal("2.5"))
    assert usdc_balance(funded, AGENT) == Decimal("7.5")


def test_failed_deployment_is_cancelled_and_not_debited(funded):
    intent = approved_intent(funded)

    def broken_deployment():
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        deploy_with_payment(intent, "deploy-broken-1", broken_deployment)
    assert statuses(funded) == ["authorized", "cancelled"]
    cancelled = BusinessMonitor(funded).read_events().records[-1]
    assert cancelled.intent_id == intent.intent_id
    assert FinanceLedger(funded).read_entries().records == []
    assert usdc_balance(funded, AGENT) == Decimal("10")
