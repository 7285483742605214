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

from genesis_payments.cli.config_cmd import load_settings
from genesis_payments.core.errors import ConfigError, PaymentsError
from genesis_payments.core.redaction import redact
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
    state = load_flow(args.job)(**parameters, return_state=True)
    if not state.is_completed():
        outcome = state.result(raise_on_failure=False)
        reason = str(outcome) if isinstance(outcome, BaseException) else (state.message or state.name)
        print(f"genesis-payments: {args.job} {state.name.lower()}: {redact(reason)}", file=sys.stderr)
        return 1
    report = state.result()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=False))
    else:
        counts = ", ".join(f"{k} {v}" for k, v in report.get("counts", {}).items()) or "no findings"
        print(f"{args.job}: completed; {counts}; {counted(len(report.get('bad_lines', [])), 'bad line')}; "
              f"{counted(report.get('alerts_sent', 0), 'message')} sent")
    return 0
