"""What a newcomer sees after `genesis-payments serve` on an empty root, checked on the real server and
in a real browser: one business-summary run per demo business, started by its
`genesis.business.generated` event, and the planted review waiting as a paused approve-intent run
whose form, filled in Chromium, resumes the run and appends the resolving decision.

One serve (its own Prefect server, UI included) is shared by the tests of this module.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from genesis_payments.core.records import SpendSummary
from genesis_payments.core.settings import Settings
from genesis_payments.demo import BUSINESSES
from genesis_payments.jobs.spend_summary import build_spend_summary
from genesis_payments.ledgers.approval_log import ApprovalLog
from genesis_payments.ledgers.ledgers import BusinessMonitor
from tests.support.prefect_server import free_port

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
REVIEW_LINE = re.compile(
    r"review waiting for a person: intent (\S+) .* open (http://127\.0\.0\.1:\d+/runs/flow-run/(\S+)) ")
REVIEWER = "Ada Lovelace"
START_TIMEOUT = 420.0


@dataclass
class Served:
    api: str
    root: Path
    log: Path
    intent_id: str
    review_url: str
    review_run_id: str

    def post(self, path: str, body: dict) -> list[dict]:
        return httpx.post(f"{self.api}{path}", json=body, timeout=30).json()

    def get(self, path: str) -> dict:
        return httpx.get(f"{self.api}{path}", timeout=30).json()

    def runs_of(self, deployment: str) -> list[dict]:
        ids = {d["name"]: d["id"] for d in self.post("/deployments/filter", {})}
        return self.post("/flow_runs/filter", {"deployments": {"id": {"any_": [ids[deployment]]}}})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("serve-ui")
    root = home / "root"  # empty: serve generates the demo
    log = home / "serve.log"
    env = {
        **{k: v for k, v in os.environ.items()
           if not (k.startswith(("GENESIS_", "PREFECT_")) or k == "PAYMENTS_USE_FAKE")},
        "PREFECT_HOME": str(home / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # A queued business-summary run asks again for its slot after this (default 30 s).
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
        "GENESIS_ROOT": str(root),
        "GENESIS_EXPORTER_HOST": "127.0.0.1",
        "GENESIS_EXPORTER_PORT": str(free_port()),
    }
    port = free_port()
    with open(log, "wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "genesis_payments", "serve", "--prefect-port", str(port)],
                                 cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        match = _wait_for_review_line(log, serve)
        yield Served(f"http://127.0.0.1:{port}/api", root, log, match[1], match[2], match[3])
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait(timeout=30)


def _wait_for_review_line(log: Path, serve: subprocess.Popen) -> re.Match:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        assert serve.poll() is None, f"serve exited with {serve.returncode}:\n{text[-3000:]}"
        match = REVIEW_LINE.search(text)
        if match:
            return match
        time.sleep(1)
    raise AssertionError(f"serve never printed where the review waits:\n{log.read_text(errors='replace')[-3000:]}")


def _wait_for(predicate, timeout: float, what: str, served: Served):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f} s\n{served.log.read_text(errors='replace')[-3000:]}")


def test_serve_on_an_empty_root_summarises_each_business_on_its_event_and_pauses_one_review(served: Served):
    def completed_summaries() -> list[dict]:
        runs = served.runs_of("business-summary")
        done = [r for r in runs if r["state_type"] == "COMPLETED"]
        return runs if len(done) == len(BUSINESSES) == len(runs) else []

    runs = _wait_for(completed_summaries, 240, "one Completed business-summary run per business", served)
    assert sorted(r["parameters"]["business_id"] for r in runs) == sorted(BUSINESSES)
    # Started by the deployment's event trigger, not by hand or by serve.
    assert {(r["created_by"]["type"], r["created_by"]["display_value"]) for r in runs} == {
        ("AUTOMATION", "business-summary__automation_1")
    }

    reviews = served.runs_of("approve-intent")
    assert [r["id"] for r in reviews] == [served.review_run_id]
    assert reviews[0]["parameters"]["intent"]["intent_id"] == served.intent_id
    states = httpx.get(f"{served.api}/flow_run_states/", params={"flow_run_id": served.review_run_id},
                       timeout=30).json()
    assert "PAUSED" in {state["type"] for state in states}  # the browser test may have answered it since

    settings = Settings(root=served.root)
    lines = [json.loads(line) for line in settings.spend_summaries_path.read_text().splitlines()]
    kept = {line["business_id"]: SpendSummary.model_validate(line) for line in lines}
    assert sorted(kept) == sorted(BUSINESSES) and len(lines) == len(BUSINESSES)
    events = BusinessMonitor(settings).read_events().records
    decisions = ApprovalLog(settings).read().records
    for business_id, summary in kept.items():
        expected = build_spend_summary(business_id, events, decisions)
        assert (summary.total_spent_usd, summary.by_vendor, summary.by_agent, summary.by_component) == (
            expected.total_spent_usd, expected.by_vendor, expected.by_agent, expected.by_component)
        assert sum(summary.by_vendor.values()) == summary.total_spent_usd > 0
    outbox = [json.loads(line) for line in settings.outbox_path.read_text().splitlines()]
    titles = [m["payload"]["embeds"][0]["title"] for m in outbox if m["channel"] == "dashboard"]
    assert sorted(t for t in titles if t.startswith("Spend summary")) == sorted(
        f"Spend summary — {b}" for b in BUSINESSES)


def test_the_review_form_in_chromium_resumes_the_run_and_records_the_reviewer(served: Served, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    _wait_for(lambda: served.get(f"/flow_runs/{served.review_run_id}")["state_type"] == "PAUSED", 180,
              "the approve-intent run Paused", served)
    screenshot = tmp_path / "review-form.png"
    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh empty profile; the flags keep Chromium off the network.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
        ])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served.review_url)
            # A single-page app: wait for the elements, not for the page's load event.
            page.get_by_role("button", name="Resume").click(timeout=90_000)
            form = page.get_by_role("dialog")
            form.get_by_text("Payment waiting for review").wait_for(timeout=60_000)
            form.get_by_role("switch").click()
            form.locator(".schema-form-property", has_text="Reviewer").locator("textarea").fill(REVIEWER)
            form.locator(".schema-form-property", has_text="Note").locator("textarea").fill("invoice checked")
            page.screenshot(path=str(screenshot))
            form.get_by_role("button", name="Submit").click()
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000

    run = _wait_for(lambda: (r := served.get(f"/flow_runs/{served.review_run_id}"))["state_type"] in
                    ("COMPLETED", "FAILED", "CRASHED") and r, 90, "the resumed run finished", served)
    assert run["state_type"] == "COMPLETED"
    decisions = [d for d in ApprovalLog(Settings(root=served.root)).read().records if d.intent_id == served.intent_id]
    assert [d.decision for d in decisions] == ["pending_review", "approved"]
    assert decisions[-1].resolved_by == REVIEWER
