"""The PostgreSQL store (§12) against its baselines, measured in the same run; one named section each.

    python benchmarks/postgres.py [--section approvals ...] [--url postgresql://… | a throwaway cluster]
        approvals: [--decisions 2000] [--processes 1,8] [--existing 100000] [--rounds 2]
                   [--modes head,advisory,serializable]
        ledger_sync: [--payments 1000000] [--root DIR] [--seed 0] [--repeat 1]

`approvals`: decisions/s through `GenesisMetaAgent` on PostgreSQL (synchronous_commit on, fsync on)
with 1 and 8 concurrent processes, for each way of serialising appends (`head`: the head row locked
FOR UPDATE, the one kept; `advisory`: an advisory lock per budget key first; `serializable`:
SERIALIZABLE with 40001 retried), against (a) PostgreSQL's own ceiling for one-row inserts with
commit — a bare psycopg insert loop of a line of the same size, same processes — and (b) the JSONL
store's figure (the same agent on the files of §2, fsync on, same disk). Rounds alternate between
all of them so that load from other processes hits each alike. Target: >= 50 % of the ceiling at 8
processes. The chain first holds `--existing` decisions (bulk-loaded), so the figures include
following a long chain; an agent's start (reading it all once) is timed separately.

`ledger_sync`: ledger-sync on N payments: the same histories (benchmarks/generate.py) as files and,
loaded by `genesis-payments import`, in PostgreSQL; then, each in its own subprocess (honest peak
RSS), the job's full scan (`run_ledger_sync(full=True)`: every event and entry read, folded and
reconciled) and its incremental run from a fresh checkpoint (nothing new: what an idle night costs),
on both stores, with their finding counts cross-checked.

A new section is a function `section_<name>(args, db)` registered in SECTIONS, with its options in
`add_<name>_options(parser)`; `db` is the URL of an empty, migrated database for it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ledger_sync.py generates the histories

import psycopg

from genesis_payments.postgres.local_cluster import LocalCluster
from genesis_payments.postgres.migrate import upgrade

AGENTS = [f"agent-{n}" for n in range(50)]
VENDORS = ["payments:deploy:vercel", "media:images:replicate", "llm:openai", "voice:elevenlabs", "search:serpapi"]
SCRIPT = Path(__file__).resolve()


# -- the approvals section -------------------------------------------------------------------------

def add_approvals_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decisions", type=int, default=2000, help="decisions per configuration and round")
    parser.add_argument("--processes", default="1,8", help="concurrent processes, comma-separated")
    parser.add_argument("--existing", type=int, default=100_000, help="decisions already in the chain")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="head,advisory,serializable")


def _existing_chain(url: str, count: int, policy_hash: str) -> tuple[float, int]:
    """`count` correctly chained decisions over the last 60 days, COPYed in; (seconds, line size)."""
    from genesis_payments.ledgers.approval_log import GENESIS_HASH, chained_line

    start = time.perf_counter()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first, step = today - timedelta(days=60), timedelta(days=60) / max(count, 1)
    prev, size = GENESIS_HASH, 300
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY approval_chain (seq, kind, intent_id, decision_id, decision, ts, prev_hash, hash, line) "
                      "FROM STDIN") as copy:
            for n in range(count):
                ts = (first + step * n).isoformat(timespec="microseconds")
                body = {"decision_id": os.urandom(16).hex(), "ts": ts, "intent_id": f"old-{n}",
                        "agent": AGENTS[n % 50], "vendor": VENDORS[n % 5], "component": "copy",
                        "strategy": "launch", "cost_usd": "0.010000", "business_id": f"biz-{n % 400}",
                        "chain": "eip155:8453", "token": "USDC", "decision": "approved", "reasons": [],
                        "policy": policy_hash, "prev_hash": prev}
                digest, line = chained_line(body)
                text = line[:-1].decode()
                copy.write_row((n + 1, "decision", body["intent_id"], body["decision_id"], "approved", ts, prev,
                                digest, text))
                prev, size = digest, len(line)
        if count:
            cur.execute("UPDATE approval_chain_head SET seq = %s, hash = %s", (count, prev))
    return time.perf_counter() - start, size


def _worker(argv: list[str]) -> None:
    """One benchmark process: `kind` (ceiling | pg | files), its share of intents, then timestamps."""
    kind, prefix, count, go, size = argv[0], argv[1], int(argv[2]), Path(argv[3]), int(argv[4])
    if kind == "ceiling":
        conn = psycopg.connect(os.environ["BENCH_URL"], autocommit=True)
        line = "x" * size
        conn.execute("INSERT INTO bench_ceiling (line) VALUES (%s)", (line,))
        work: Callable[[int], object] = lambda n: conn.execute("INSERT INTO bench_ceiling (line) VALUES (%s)",  # noqa: E731
                                                               (line,))
    else:
        from genesis_payments.approvals.meta_agent import GenesisMetaAgent
        from genesis_payments.core.settings import Settings

        class AllVendors:
            def supports(self, vendor: str, chain: str, token: str) -> bool:
                return True

        agent = GenesisMetaAgent(Settings(), vendors=AllVendors())
        t0 = time.perf_counter()
        agent.expire_overdue_reviews()  # the first lock follows the whole chain: a start's cost
        started = time.perf_counter() - t0

        def work(n: int) -> object:
            return agent.approve_payment_intent({
                "intent_id": f"{prefix}-{n}", "agent": AGENTS[n % 50], "vendor": VENDORS[n % 5],
                "component": "copy", "strategy": "launch", "cost_usd": "0.01", "business_id": f"biz-{n % 400}"})
    (go.parent / f"ready-{prefix}").touch()
    while not go.exists():
        time.sleep(0.001)
    begin = time.time()
    for n in range(count):
        work(n)
    print(json.dumps({"begin": begin, "end": time.time(), "start": started if kind != "ceiling" else 0.0}))


class WorkerFailed(Exception):
    pass


def _run_processes(kind: str, processes: int, total: int, env: dict[str, str], size: int, tag: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="genesis-bench-go-"))
    go, share = folder / "go", max(1, total // processes)
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--worker", kind, f"{tag}-{p}", str(share), str(go),
                               str(size)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in range(processes)]
    deadline = time.monotonic() + 300
    while len(list(folder.glob("ready-*"))) < processes:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"{kind} workers failed to start: {[p.communicate()[1][-2000:] for p in procs]}")
        time.sleep(0.01)
    go.touch()
    results = []
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            failures.append(err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}")
        else:
            results.append(json.loads(out.strip().splitlines()[-1]))
    if failures:
        shutil.rmtree(folder, ignore_errors=True)
        raise WorkerFailed(f"{len(failures)} of {processes} workers failed: {failures[0][:300]}")
    shutil.rmtree(folder, ignore_errors=True)
    wall = max(r["end"] for r in results) - min(r["begin"] for r in results)
    return {"count": share * processes, "wall": wall, "start": max(r["start"] for r in results)}


def section_approvals(args: argparse.Namespace, db: str) -> None:
    from genesis_payments.approvals.policy import DEFAULT_POLICY, load_policy
    from genesis_payments.core.settings import Settings

    root = Path(tempfile.mkdtemp(prefix="genesis-bench-pg-"))
    files_root = root / "files"
    for where in (root, files_root):
        settings = Settings(root=where)
        settings.effective_policy_path.parent.mkdir(parents=True, exist_ok=True)
        settings.effective_policy_path.write_text(json.dumps(DEFAULT_POLICY, indent=2))
    policy = load_policy(Settings(root=root))
    took, size = _existing_chain(db, args.existing, policy.hash)
    print(f"[approvals] chain preloaded with {args.existing:,} decisions in {took:.1f} s (line ~{size} bytes)")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, line text NOT NULL)")
        settings_row = conn.execute("SELECT current_setting('synchronous_commit'), current_setting('fsync')").fetchone()
    print(f"[approvals] server: synchronous_commit={settings_row[0]}, fsync={settings_row[1]}")

    base = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    base["PYTHONPATH"] = str(SCRIPT.parents[1])
    envs = {"ceiling": {**base, "BENCH_URL": db},
            "files": {**base, "GENESIS_ROOT": str(files_root)}}
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        envs[f"pg-{mode}"] = {**base, "GENESIS_ROOT": str(root), "GENESIS_DATABASE_URL": db,
                              "GENESIS_PG_APPROVAL_LOCKING": mode}
    counts = [int(p) for p in args.processes.split(",")]
    totals: dict[tuple[str, int], list[float]] = {}
    starts: dict[str, float] = {}
    failed: dict[tuple[str, int], str] = {}
    for r in range(args.rounds):
        for processes in counts:
            for name, env in envs.items():
                kind = name.split("-")[0]
                try:
                    result = _run_processes(kind, processes, args.decisions, env, size, f"{name}-{processes}-{r}")
                except WorkerFailed as exc:
                    failed[(name, processes)] = str(exc)
                    continue
                totals.setdefault((name, processes), []).append(result["count"] / result["wall"])
                if kind == "pg" and processes == 1:
                    starts[name] = result["start"]

    def rate(name: str, processes: int) -> float:
        values = totals.get((name, processes), [])
        return sorted(values)[len(values) // 2] if values else float("nan")  # the median round

    print(f"[approvals] {args.decisions} decisions per configuration and round, {args.rounds} rounds "
          f"(median round shown); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for processes in counts:
        ceiling, files = rate("ceiling", processes), rate("files", processes)
        print(f"[approvals] {processes} process(es): PostgreSQL ceiling (one-row INSERT + commit) "
              f"{ceiling:9,.0f}/s; JSONL store {files:9,.0f} decisions/s")
        for mode in modes:
            pg = rate(f"pg-{mode}", processes)
            if (f"pg-{mode}", processes) in failed:
                print(f"[approvals]   {mode:>12}: failed in a round: {failed[(f'pg-{mode}', processes)]}")
            target = "  (target >= 50% at 8)" if processes == 8 and mode == "head" else ""
            print(f"[approvals]   {mode:>12}: {pg:9,.0f} decisions/s = {pg / ceiling:5.0%} of the ceiling, "
                  f"{pg / files:5.2f}x the JSONL store{target}")
    for name, seconds in starts.items():
        print(f"[approvals] agent start on {args.existing:,} decisions ({name}): {seconds:.2f} s")
    shutil.rmtree(root, ignore_errors=True)


# -- the ledger_sync section -----------------------------------------------------------------------

def _settings(root: Path, url: str | None):
    from genesis_payments.core.settings import Settings

    return Settings(root=root, database_url=url, chain_reconciliation=False)


def _measure_ledger_sync(root: Path, url: str | None, now: datetime, kind: str) -> dict:
    from genesis_payments.jobs.ledger_sync_checkpoint import run_ledger_sync

    settings = _settings(root, url)
    if kind == "checkpoint":  # the checkpoint the incremental run goes on from, made in a process of its own
        run = run_ledger_sync(settings, now, full=True)
        return {"seconds": 0.0, "peak_rss_mb": _peak_rss_mb(), "counts": run.result.counts, "scan": run.scan,
                "lines_read": run.lines_read}
    start = time.perf_counter()
    run = run_ledger_sync(settings, now, full=kind == "full", save=False)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "peak_rss_mb": _peak_rss_mb(), "counts": run.result.counts,
            "scan": run.scan, "lines_read": run.lines_read}


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (getrusage's ru_maxrss
    would carry the parent's peak over into a child that the parent exec'd)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _subprocess(root: Path, url: str | None, now: str, kind: str) -> dict:
    argv = [sys.executable, __file__, "--measure-ledger-sync", kind, str(root), now, url or ""]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def add_ledger_sync_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/genesis-bench-ledger-sync"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best time is kept")


def section_ledger_sync(args: argparse.Namespace, pg_url: str) -> None:
    from ledger_sync import generate_data

    from genesis_payments.postgres.transfer import import_store

    root, payments, repeat = args.root, args.payments, args.repeat
    generate_data(root, payments, args.seed)
    started = time.perf_counter()
    loaded = import_store(_settings(root / "pg-root", pg_url), root)
    load_seconds = time.perf_counter() - started
    events = loaded.records["transactions.jsonl"]
    print(f"[ledger_sync] {payments:,} payments: {events:,} events and "
          f"{loaded.records['finance_ledger.jsonl']:,} entries; import into PostgreSQL {load_seconds:.1f} s, "
          f"{_peak_rss_mb():,.0f} MB peak RSS")
    now = datetime.now(UTC).isoformat()
    results: dict[str, dict] = {}
    for kind in ("full", "incremental"):
        for store, store_url, where in (("files", None, root), ("postgres", pg_url, root / "pg-root")):
            if kind == "incremental":
                _subprocess(where, store_url, now, "checkpoint")
            runs = [_subprocess(where, store_url, now, kind) for _ in range(repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            results[f"{store} {kind}"] = best
            print(f"[ledger_sync]   {store:8s} {kind:11s} {best['seconds']:8.3f} s  {best['peak_rss_mb']:8.1f} MB "
                  f"peak RSS  {best['lines_read']:,} lines read")
        files, pg = results[f"files {kind}"], results[f"postgres {kind}"]
        print(f"[ledger_sync] {kind}: postgres / files time {pg['seconds'] / max(files['seconds'], 1e-9):.2f}x, "
              f"memory {pg['peak_rss_mb'] / files['peak_rss_mb']:.2f}x")
    same = results["files full"]["counts"] == results["postgres full"]["counts"]
    print("[ledger_sync] finding counts agree on both stores" if same
          else "[ledger_sync] FINDING COUNTS DIFFER BETWEEN THE STORES")


SECTIONS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, str], None]]] = {
    "approvals": (add_approvals_options, section_approvals),
    "ledger_sync": (add_ledger_sync_options, section_ledger_sync),
}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--measure-ledger-sync":
        kind, root, now, url = sys.argv[2:6]
        print(json.dumps(_measure_ledger_sync(Path(root), url or None, datetime.fromisoformat(now), kind)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS),
                        help="sections to run (default: all)")
    parser.add_argument("--url", help="a server to use (a database is created per section); "
                        "default: a throwaway cluster in a temporary folder, fsync and synchronous_commit on")
    for add_options, _ in SECTIONS.values():
        add_options(parser)
    args = parser.parse_args()

    cluster = None
    if args.url is None:
        folder = Path(tempfile.mkdtemp(prefix="genesis-bench-cluster-"))
        cluster = LocalCluster(folder, server_settings={"max_connections": "100"})
        server = cluster.start()
    else:
        server = args.url
    try:
        for name in args.section or sorted(SECTIONS):
            database = f"bench_{name}_{os.getpid()}"
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            url = server.rsplit("/", 1)[0] + f"/{database}"
            upgrade(url)
            try:
                SECTIONS[name][1](args, url)
            finally:
                with psycopg.connect(server, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        if cluster is not None:
            cluster.stop(mode="immediate")
            shutil.rmtree(cluster.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
