"""`genesis-payments run <job> [--json]`: run one job once, as a Prefect flow run (§5, §10).

The run goes to the Prefect server that `serve` runs (or `PREFECT_API_URL`) when one answers, so
it shows in that UI and costs seconds; only when none answers does Prefect start a temporary
server for the run, and the command says so. With `--json` the report alone goes to stdout;
Prefect's logs go to stderr. Exit 1 when the run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError, PaymentsError
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.core.wording import counted


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("run", help="run one scheduled job once, as a Prefect flow run")
    parser.add_argument("job", help="job name, e.g. ledger-sync")
    parser.add_argument("--json", action="store_true", help="print the job's JSON report alone on stdout")
    parser.add_argument("--business-id", dest="business_id", help="business-summary: the business to summarise")
    parser.add_argument("--full", action="store_true",
                        help="read the whole log again instead of going on from the job's checkpoint")
    parser.set_defaults(handler=run_job)


def use_running_server(state_dir) -> None:
    """Point Prefect at a server that answers, or say that a temporary one will be started."""
    from deployments.prefect_api import answers, candidates, running_api_url

    url = running_api_url(state_dir)
    if url is not None:
        os.environ["PREFECT_API_URL"] = url
        return
    if "prefect" in sys.modules:  # called in-process (tests): Prefect's current settings decide
        from prefect.settings import PREFECT_API_URL

        current = PREFECT_API_URL.value()
        if current and answers(current):
            return
    tried = ", ".join(candidates(state_dir)) or "PREFECT_API_URL unset, no `serve` recorded"
    os.environ.pop("PREFECT_API_URL", None)  # an address that does not answer would fail the run
    print(f"genesis-payments: no Prefect server answered ({tried}); starting a temporary one for this run "
          "(about 20 s; `genesis-payments serve` keeps one running)", file=sys.stderr)


def run_job(args: argparse.Namespace) -> int:
    settings = load_settings()  # invalid environment: exit 2 before Prefect is even imported
    use_running_server(settings.state_dir)
    from tasks.runtime_settings import load_runtime_settings

    load_runtime_settings().require_ready()  # a missing live setting (env or Secret block) is exit 2
    from flows.registry import CHECKPOINTED_JOBS, JOB_PARAMETERS, JOBS, load_flow  # Prefect only for this command

    if args.job not in JOBS:
        raise PaymentsError(f"unknown job {args.job!r}; known jobs: {', '.join(sorted(JOBS))}")
    parameters = {name: getattr(args, name) for name in JOB_PARAMETERS.get(args.job, ())}
    missing = [f"--{name.replace('_', '-')}" for name, value in parameters.items() if not value]
    if missing:
        raise ConfigError(f"{args.job} needs {', '.join(missing)}")
    if getattr(args, "full", False):
        if args.job not in CHECKPOINTED_JOBS:
            raise ConfigError(f"{args.job} keeps no checkpoint: it always reads the whole log (no --full)")
        parameters["full"] = True
    started = utc_now()
    state = load_flow(args.job)(**parameters, return_state=True)
    if not state.is_completed():
        outcome = state.result(raise_on_failure=False)
        reason = redact(str(outcome) if isinstance(outcome, BaseException) else (state.message or state.name))
        print(f"genesis-payments: {args.job} {state.name.lower()}: {reason}", file=sys.stderr)
        if args.json:
            print(json.dumps(failed_report(args.job, state.name, reason, started, load_settings()), indent=2))
        return 1
    report = state.result()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=False))
    else:
        counts = ", ".join(f"{k} {v}" for k, v in report.get("counts", {}).items()) or "no findings"
        print(f"{args.job}: completed; {counts}; {counted(len(report.get('bad_lines', [])), 'bad line')}; "
              f"{counted(report.get('alerts_sent', 0), 'message')} sent")
    return 0


def failed_report(job: str, state_name: str, reason: str, started: datetime, settings: Settings) -> dict[str, Any]:
    """What `--json` prints for a run that did not complete: the report the run wrote, if it got
    that far, else the report's frame; with `state` (Failed, Crashed …) and the redacted `error`."""
    report: dict[str, Any] = {"job": job, "started_at": format_utc(started), "finished_at": None, "counts": {},
                              "findings": [], "bad_lines": [], "alerts_sent": 0}
    folder = settings.reports_dir / job
    try:
        written = [p for p in folder.glob("*.json") if p.stat().st_mtime >= started.timestamp()]
        if written:
            report = json.loads(max(written, key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # the failure itself is what matters; the frame is printed
    report["state"] = state_name
    report["error"] = redact(str(report.get("error") or reason))
    return report
