import pytest
from pydantic import ValidationError

from genesis_payments.core.records import PaymentEvent, SpendSummary

EVENT = {
    "event_id": "e1", "ts": "2026-11-26T03:00:00.123456+00:00", "payment_id": "p1", "status": "authorized",
    "agent": "a", "vendor": "payments:deploy:vercel", "chain": "eip155:8453", "token": "USDC", "amount_usd": "12.5",
}


def test_event_round_trips_with_money_as_string():
    event = PaymentEvent.model_validate(EVENT)
    assert event.to_json_dict()["amount_usd"] == "12.500000"
    assert event.to_json_dict()["ts"] == "2026-11-26T03:00:00.123456+00:00"


def test_extra_fields_are_kept():
    assert PaymentEvent.model_validate({**EVENT, "note": "x"}).to_json_dict()["note"] == "x"


@pytest.mark.parametrize(
    "change",
    [
        {"ts": "2026-11-26T03:00:00"},
        {"status": "settled"},
        {"payment_id": ""},
        {"payment_id": "   "},
        {"amount_usd": "1.0000001"},
        {"amount_usd": "-1"},
        {"chain": "base"},
        {"event_id": 5},
    ],
)
def test_contract_violations_are_refused(change):
    with pytest.raises(ValidationError):
        PaymentEvent.model_validate({**EVENT, **change})


def test_non_utc_offset_is_normalised_to_utc():
    event = PaymentEvent.model_validate({**EVENT, "ts": "2026-11-26T05:00:00+02:00"})
    assert event.to_json_dict()["ts"] == "2026-11-26T03:00:00.000000+00:00"


def test_spend_summary_breakdowns_must_sum_to_total():
    base = {
        "business_id": "b", "ts": "2026-11-26T03:00:00+00:00", "total_spent_usd": "3",
        "approved_intents": 2, "denied_intents": 0, "pending_review": 0,
        "by_vendor": {"v": "3"}, "by_agent": {"a": "1", "b": "2"}, "by_component": {"c": "3"},
    }
    assert SpendSummary.model_validate(base).total_spent_usd == 3
    with pytest.raises(ValidationError, match="by_agent sums to"):
        SpendSummary.model_validate({**base, "by_agent": {"a": "1"}})
