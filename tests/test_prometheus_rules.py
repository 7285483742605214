"""The shipped alert rules: promtool checks and unit tests, then a real Prometheus scraping the exporter.

promtool and prometheus come from Debian's `prometheus` package; `make test` installs it when run as
root. When they are missing these tests fail (never skip) and say how to install them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.core.settings import Settings
from genesis_payments.exporter.metrics import PaymentsCollector
from genesis_payments.exporter.server import ExporterServer
from genesis_payments.payments.fakes.fake_keys import fund_fake_wallets
from tests.support.exporter import append_lines, fetch, one_shot, payment_event
from tests.support.prefect_server import free_port

RULES_DIR = Path(__file__).resolve().parent.parent / "deployments" / "prometheus"
NOW = datetime(2026, 11, 26, 4, 0, 0, tzinfo=UTC)


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"{name} not found: install Debian's `prometheus` package (sudo apt-get install -y prometheus); "
            "`make test` installs it when run as root"
        )
    return path


def run_promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess:
    """promtool with `args` in `cwd` (the shipped rules, or a test's altered copy of them)."""
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_check_rules_accepts_the_rules() -> None:
    result = run_promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = run_promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests can fail: with the balance threshold moved to 40 they must."""
    (tmp_path / "alerts.yml").write_text((RULES_DIR / "alerts.yml").read_text().replace(
        "payment_wallet_balance < 50", "payment_wallet_balance < 40"))
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    result = run_promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "GenesisWalletBalanceLow" in result.stdout + result.stderr


@pytest.fixture
def planted_exporter(settings: Settings, local_chain) -> Iterator[ExporterServer]:
    fund_fake_wallets(settings, {"agent-a": Decimal("75"), "agent-b": Decimal("12.345678")})
    events = [*one_shot("c1", "p1", "2026-11-26T03:00:00.000000+00:00", amount_usd="10.5"),
              *one_shot("c2", "p2", "2026-11-26T03:01:00.000000+00:00", amount_usd="0.25")]
    events += [
        payment_event(f"f{i}", f"q{i}", "failed", f"2026-11-26T03:1{i}:00.000000+00:00", agent="agent-b",
                      vendor="payments:deploy:vercel")
        for i in range(6)
    ]
    events.append(payment_event("s1", "r1", "authorized", "2026-11-26T03:00:00.000000+00:00", agent="agent-b"))
    append_lines(settings.transactions_path, events)
    with ExporterServer(PaymentsCollector(settings, clock=lambda: NOW), "127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def prometheus(tmp_path: Path, planted_exporter: ExporterServer) -> Iterator[str]:
    binary = tool("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_DIR / "alerts.yml")],
        "scrape_configs": [{
            "job_name": "genesis-payments",
            "static_configs": [{"targets": [f"127.0.0.1:{planted_exporter.port}"]}],
        }],
    }))
    log = open(tmp_path / "prometheus.log", "w")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
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


def _ready(base: str) -> bool:
    try:
        return fetch(f"{base}/-/ready", timeout=1)[0] == 200
    except OSError:
        return False


def wait_for(check, seconds: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    detail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    pytest.fail(f"timed out after {seconds}s waiting for {what}\n{detail}")


def api(base: str, path: str, **params: str) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    status, body = fetch(f"{base}/api/v1/{path}{query}")
    assert status == 200
    return json.loads(body)["data"]


@pytest.mark.slow
def test_real_prometheus_fires_the_planted_alerts(prometheus: str) -> None:
    def firing() -> dict[str, dict] | None:
        alerts = {a["labels"]["alertname"]: a for a in api(prometheus, "alerts")["alerts"] if a["state"] == "firing"}
        return alerts if {"GenesisWalletBalanceLow", "GenesisVendorFailureStreak"} <= set(alerts) else None

    alerts = wait_for(firing, 30, "the low balance and failure streak alerts to fire")
    assert alerts["GenesisWalletBalanceLow"]["labels"]["agent"] == "agent-b"
    assert alerts["GenesisVendorFailureStreak"]["labels"]["vendor"] == "payments:deploy:vercel"
    assert Decimal(alerts["GenesisVendorFailureStreak"]["value"]) == 6
    assert "GenesisStaleAuthorizations" not in alerts  # `for: 15m` keeps it pending

    states = {a["labels"]["alertname"]: a["state"] for a in api(prometheus, "alerts")["alerts"]}
    assert states.get("GenesisStaleAuthorizations") == "pending"

    result = api(prometheus, "query", query='payment_spend_usd_total{agent="agent-a",vendor="vendor-x"}')["result"]
    assert len(result) == 1
    assert Decimal(result[0]["value"][1]) == Decimal("10.75")
    balances = api(prometheus, "query", query="payment_wallet_balance")["result"]
    assert {r["metric"]["agent"]: Decimal(r["value"][1]) for r in balances} == {
        "agent-a": Decimal("75"), "agent-b": Decimal("12.345678")}
