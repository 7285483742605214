"""The `genesis.business.generated` event carries the business id where the deployment trigger reads it."""

from __future__ import annotations

import inspect

import pytest


def test_emit_business_generated_names_the_business(monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.events as events

    sent = []
    monkeypatch.setattr(events, "emit_event", lambda **kwargs: sent.append(kwargs))
    events.emit_business_generated("biz-42")
    assert sent == [{
        "event": "genesis.business.generated",
        "resource": {"prefect.resource.id": "genesis.business.biz-42", "genesis.business.id": "biz-42"},
        "payload": {"business_id": "biz-42"},
    }]


def test_business_summary_flow_takes_the_business_id_and_full_parameters() -> None:
    from flows.business_summary import business_summary

    assert list(inspect.signature(business_summary.fn).parameters) == ["business_id", "full"]  # full: a rescan
