"""The shipped Grafana dashboard parses and queries only metrics the exporter exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from genesis_payments.exporter.metrics import METRIC_NAMES

DASHBOARD = Path(__file__).resolve().parent.parent / "deployments" / "grafana" / "genesis-payments.json"
CONTRACT_METRICS = {
    "payments_total", "payment_spend_usd_total", "payment_wallet_balance",
    "payment_vendor_failure_streak", "payment_stale_authorizations",
}
# PromQL words that look like identifiers but are functions, keywords or label names.
_NOT_METRICS = {
    "sum", "by", "min", "max", "count", "increase", "rate", "time", "vector", "or", "and", "unless",
    "agent", "vendor", "chain", "status", "source",
}


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_templates = re.sub(r"\$\w+|\{\{[^}]*\}\}|\[[^\]]*\]", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_templates))
    return words - _NOT_METRICS


def test_dashboard_parses_and_has_panels_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "genesis-payments"
    assert all(panel.get("targets") for panel in dashboard["panels"])


def test_every_query_names_only_metrics_the_exporter_exposes() -> None:
    for expr in queries():
        names = metric_names(expr)
        assert names, f"query names no metric: {expr}"
        assert names <= set(METRIC_NAMES), f"{expr} uses {names - set(METRIC_NAMES)}"


def test_the_dashboard_shows_every_contract_metric() -> None:
    used = set().union(*(metric_names(expr) for expr in queries()))
    assert used >= CONTRACT_METRICS


def test_the_check_catches_an_unknown_metric() -> None:
    assert metric_names('sum by (agent) (increase(payment_spend_usd[1h]))') == {"payment_spend_usd"}
