"""The control rules (budgets, halts): promtool checks and unit tests, then a real Prometheus scraping
an exporter whose root holds a budget at 100 % and a halt."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.approvals.halts import halt
from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from genesis_payments.core.settings import Settings
from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer
from tests.support.approvals import FakeVendors, intent
from tests.support.prefect_server import free_port
from tests.test_prometheus_rules import RULES_DIR, _ready, api, run_promtool, tool, wait_for

NONE = {"daily": None, "monthly": None}
POLICY = {"review_threshold_usd": None, "max_intent_usd": None,
          "budgets": {"agent": {"default": {"daily": "10", "monthly": None}}, "vendor": {"default": NONE},
                      "business": {"default": {"daily": None, "monthly": "100"}}}}


def test_promtool_check_rules_accepts_the_control_rules() -> None:
    result = run_promtool("check", "rules", "controls.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def test_promtool_unit_tests_of_the_control_rules_pass() -> None:
    result = run_promtool("test", "rules", "controls_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_control_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    (tmp_path / "controls.yml").write_text((RULES_DIR / "controls.yml").read_text().replace(">= 0.8 < 1", ">= 0.9 < 1"))
    shutil.copy(RULES_DIR / "controls_test.yml", tmp_path / "controls_test.yml")
    result = run_promtool("test", "rules", "controls_test.yml", cwd=tmp_path)
    assert result.returncode != 0 and "GenesisBudgetNearlyUsed" in result.stdout + result.stderr


def _planted(settings: Settings) -> None:
    settings.effective_policy_path.parent.mkdir(parents=True, exist_ok=True)
    settings.effective_policy_path.write_text(json.dumps(POLICY))
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    agent.approve_payment_intent(intent("10", agent="spender", business_id="biz-1"))
    agent.approve_payment_intent(intent("4", agent="careful", business_id="biz-1"))
    halt(settings, "vendor", "voice:elevenlabs", reason="double charges", by="ops")


def test_the_exporter_exposes_budget_ratios_and_halts(settings: Settings) -> None:
    from prometheus_client import CollectorRegistry

    _planted(settings)
    registry = CollectorRegistry()
    registry.register(PaymentsCollector(settings, balance_source=dict))
    value = registry.get_sample_value
    assert value("payment_budget_used_ratio", {"scope": "agent", "key": "spender", "period": "day"}) == 1.0
    assert value("payment_budget_used_ratio", {"scope": "agent", "key": "careful", "period": "day"}) == 0.4
    assert value("payment_budget_used_ratio", {"scope": "business", "key": "biz-1", "period": "month"}) == 0.14
    assert value("payment_budget_used_ratio", {"scope": "vendor", "key": "llm:openai", "period": "day"}) is None
    assert value("payment_halted", {"scope": "vendor", "key": "voice:elevenlabs"}) == 1


@pytest.fixture
def prometheus(tmp_path: Path, settings: Settings) -> Iterator[str]:
    _planted(settings)
    binary = tool("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    with ExporterServer(PaymentsCollector(settings, balance_source=dict, clock=lambda: datetime.now(UTC)),
                        "127.0.0.1", 0) as exporter:
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES_DIR / "controls.yml")],
            "scrape_configs": [{"job_name": "genesis-payments",
                                "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}]}],
        }))
        log = open(tmp_path / "prometheus.log", "w")
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _ready(base), 20, "Prometheus to become ready", tmp_path / "prometheus.log")
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


@pytest.mark.slow
def test_real_prometheus_fires_the_budget_and_halt_alerts(prometheus: str) -> None:
    wanted = {"GenesisBudgetUsedUp", "GenesisPaymentsHalted"}

    def firing() -> dict[str, dict] | None:
        alerts = {a["labels"]["alertname"]: a for a in api(prometheus, "alerts")["alerts"] if a["state"] == "firing"}
        return alerts if wanted <= set(alerts) else None

    alerts = wait_for(firing, 30, "the budget and halt alerts to fire")
    assert alerts["GenesisBudgetUsedUp"]["labels"]["key"] == "spender"
    assert alerts["GenesisPaymentsHalted"]["labels"]["key"] == "voice:elevenlabs"
    assert "GenesisBudgetNearlyUsed" not in alerts  # careful is at 40 %
    result = api(prometheus, "query", query='payment_budget_used_ratio{key="careful"}')["result"]
    assert [Decimal(r["value"][1]) for r in result] == [Decimal("0.4")]
