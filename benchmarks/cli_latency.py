"""`genesis-payments run JOB` by hand while a Prefect server runs: command to report, in seconds.

    python benchmarks/cli_latency.py [--job ledger-sync] [--rounds 3]

Starts `prefect server start` on a free loopback port and a demo root, then times, alternating
rounds, (a) the command `genesis-payments --root R run JOB --json` finding the server through the
address `serve` records (`PREFECT_API_URL` unset), and (b) the same-run baseline: a bare Python
process running a trivial flow on the same server. Both pay the interpreter and `import prefect`;
(a) also imports the project, reads the root and writes its report. Target: (a) ≤ 3 s. Last, one
run with no server at all shows what the temporary server costs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deployments.prefect_api import record_api_url  # noqa: E402
from deployments.serve import start_local_server  # noqa: E402
from tests.support.prefect_server import free_port  # noqa: E402

TRIVIAL = "from prefect import flow\n@flow(name='trivial')\ndef trivial():\n    return 1\ntrivial()\n"


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command} failed ({done.returncode}): {done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default="ledger-sync")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-temporary", action="store_true", help="leave out the no-server run (~20 s)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="genesis-bench-cli-"))
    root = work / "root"
    home = work / "prefect-home"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESIS_", "PREFECT_"))}
    base_env.update({"PYTHONPATH": str(REPO), "PREFECT_HOME": str(home), "GENESIS_ROOT": str(root),
                     "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    cli = [sys.executable, "-m", "genesis_payments", "--root", str(root)]
    subprocess.run([*cli, "demo"], env=base_env, cwd=REPO, capture_output=True, check=True, timeout=600)

    port = free_port()
    os.environ.update({"PREFECT_HOME": str(home)})
    server = start_local_server(port, work / "server.log")
    api = f"http://127.0.0.1:{port}/api"
    try:
        record_api_url(root / "data" / "a2a-x402" / "state", api)  # what `serve` writes
        baseline_env = {**base_env, "PREFECT_API_URL": api}
        timed([sys.executable, "-c", TRIVIAL], baseline_env)  # warm the server and the file cache
        timed([*cli, "run", args.job, "--json"], base_env)
        runs, bare = [], []
        for _ in range(args.rounds):
            bare.append(timed([sys.executable, "-c", TRIVIAL], baseline_env))
            runs.append(timed([*cli, "run", args.job, "--json"], base_env))
    finally:
        server.terminate()
        server.wait(timeout=30)
    run_median, bare_median = statistics.median(runs), statistics.median(bare)
    print(f"`run {args.job}` with a server running: median {run_median:.2f} s over {args.rounds} "
          f"({', '.join(f'{t:.2f}' for t in runs)}) (target <= 3 s)")
    print(f"bare trivial flow run on the same server:  median {bare_median:.2f} s "
          f"({', '.join(f'{t:.2f}' for t in bare)})")
    print(f"ratio: {run_median / bare_median:.2f}x the bare flow run; 1-min load {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    if not args.skip_temporary:
        (root / "data" / "a2a-x402" / "state" / "prefect_api.json").unlink()
        took = timed([*cli, "run", args.job, "--json"], base_env)
        print(f"`run {args.job}` with no server (a temporary one started): {took:.2f} s")
    print(json.dumps({"run_s": runs, "bare_s": bare}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
