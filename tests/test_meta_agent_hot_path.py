"""The meta agent's shortcuts on its hot path give exactly what the general code gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.approvals.meta_agent import GenesisMetaAgent, _format_ts
from genesis_payments.approvals.policy import policy_from_mapping
from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.timestamps import format_utc
from tests.support.approvals import FakeVendors, intent

_MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(st.lists(_MOMENTS, min_size=1, max_size=5), st.integers(0, 999_999))
def test_decision_timestamps_match_format_utc_within_and_across_seconds(moments, micro):
    for moment in moments:
        same_second = moment.replace(microsecond=micro)  # the cached text up to the second is reused
        for m in (moment, same_second, moment.replace(microsecond=0), moment + timedelta(seconds=1)):
            assert _format_ts(m) == format_utc(m)


def test_a_clock_in_another_zone_is_converted():
    moment = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert _format_ts(moment) == "2026-02-28T22:30:00.000000+00:00" == format_utc(moment)


def test_returned_decisions_equal_the_logged_lines_validated(settings):
    # The plain and the mandate/annotated shapes are constructed without validation: each must be
    # the model that validating its own log line gives.
    agent = GenesisMetaAgent(settings, vendors=FakeVendors(), policy=policy_from_mapping({"review_threshold_usd": "5"}))
    returned = [
        agent.approve_payment_intent(intent("1")),
        agent.approve_payment_intent(intent("2")),
        agent.approve_payment_intent(intent("6", mandate_id="m1")),
        agent.approve_payment_intent(intent("1", vendor="evil:vendor"), annotations={"flow_run_id": "r1"}),
    ]
    lines = settings.approval_log_path.read_text().splitlines()
    logged = [ApprovalDecision.model_validate_json(line) for line in lines]
    assert returned == logged
    assert [d.model_fields_set for d in returned] == [d.model_fields_set for d in logged]
