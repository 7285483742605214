"""Cost that follows new work (issue #15): checkpointed readers against full rescans, same run.

    python benchmarks/incremental.py [--payments 3000000] [--new 100000] [--decisions 1000000] [--root DIR]

Generates a history of `--payments` payments and, separately, `--new` more (`benchmarks/generate.py`,
another seed: other ids), then measures, each in its own child process (so each peak RSS is that
measurement's alone; imports are outside the clock but inside the RSS, for every measurement alike):

- ledger-sync: a full run on the history (it writes the checkpoint), then — after the new payments
  are appended to both ledgers — the nightly run from the checkpoint, against reconciling the new
  payments alone (the same code on files holding only them) and a full rescan of everything.
  Targets: nightly ≤ 1.5× the time and ≤ 1.5× the memory of the new payments alone.
- exporter: the first complete scrape with no checkpoint (it writes one), then a restart to its first
  complete scrape from the checkpoint, with nothing new and with the new payments unread. Target ≤ 0.5 s.
- GenesisMetaAgent on a log of `--decisions` chained decisions: a start that rebuilds every budget
  (and writes the spend checkpoint), then a start from the checkpoint, each to its first answer
  under the lock. Target ≤ 0.5 s and ≤ 150 MB.

The checkpointed figures are cross-checked against the rescans' (counts must agree).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def settings_of(root: Path, **kwargs):
    from genesis_payments.core.settings import Settings

    return Settings(root=root, **kwargs)


# -- measurements (each in a child process) ----------------------------------------------------


def sync(root: Path, now: datetime, *, full: bool, save: bool) -> dict:
    from genesis_payments.jobs.ledger_sync_checkpoint import run_ledger_sync

    start = time.perf_counter()
    run = run_ledger_sync(settings_of(root), now, full=full, save=save)
    return {"seconds": time.perf_counter() - start, "scan": run.scan, "lines_read": run.lines_read,
            "counts": run.result.counts, "bad_lines": len(run.bad_lines)}


def scrape(root: Path, *, full: bool) -> dict:
    from prometheus_client import CollectorRegistry, generate_latest

    from genesis_payments.exporter.metrics import PaymentsCollector

    start = time.perf_counter()
    collector = PaymentsCollector(settings_of(root), balance_source=lambda: {}, full=full)
    collector.prepare()  # the exporter's own start-up
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    page = generate_latest(registry)
    seconds = time.perf_counter() - start
    if full:
        collector.save_checkpoint()  # as a running exporter does every 100,000 lines
    events = next(line for line in page.decode().splitlines() if line.startswith("genesis_exporter_events_total"))
    return {"seconds": seconds, "scan": collector.start_report["scan"], "events": events.split()[-1],
            "page_bytes": len(page)}


def agent_start(root: Path, *, full: bool) -> dict:
    from approvals import AllVendors

    from genesis_payments.approvals.meta_agent import GenesisMetaAgent

    start = time.perf_counter()
    agent = GenesisMetaAgent(settings_of(root, fsync=False), vendors=AllVendors(), full=full)
    agent.expire_overdue_reviews()  # the first lock reads the log: what a start costs
    seconds = time.perf_counter() - start
    if full:
        agent.save_checkpoint()
    return {"seconds": seconds, "scan": agent.start_report["scan"], "lines": agent._tail.lines,
            "reserved_micro": sum(agent.state.spent.values()), "archived": len(agent.state.archived)
            + len(agent.state.archived_index or ())}


def measure(name: str, root: Path, now: datetime) -> dict:
    # Each measurement's own imports before the clock (and only its own: the RSS is that process's).
    if name.startswith("sync"):
        import genesis_payments.jobs.ledger_sync_checkpoint
    elif name.startswith("scrape"):
        import prometheus_client  # noqa: F401

        import genesis_payments.exporter.metrics
    else:
        import genesis_payments.approvals.meta_agent  # noqa: F401

    runs = {
        "sync-full": lambda: sync(root, now, full=True, save=True),
        "sync-nightly": lambda: sync(root, now, full=False, save=True),
        "sync-alone": lambda: sync(root, now, full=True, save=False),
        "sync-rescan": lambda: sync(root, now, full=True, save=False),
        "scrape-cold": lambda: scrape(root, full=True),
        "scrape-warm": lambda: scrape(root, full=False),
        "agent-rebuild": lambda: agent_start(root, full=True),
        "agent-warm": lambda: agent_start(root, full=False),
    }
    result = runs[name]()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def child(name: str, root: Path, now: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", name, "--root", str(root), "--now", now],
                         check=False, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"measurement {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- driver --------------------------------------------------------------------------------------


def append_files(source: Path, target: Path) -> None:
    """The new payments' lines appended to the history's two ledgers (whole files, so whole lines)."""
    src, dst = settings_of(source), settings_of(target)
    for a, b in ((src.transactions_path, dst.transactions_path), (src.finance_ledger_path, dst.finance_ledger_path)):
        with open(a, "rb") as read, open(b, "ab") as write:
            shutil.copyfileobj(read, write, 16 << 20)


def show(label: str, r: dict) -> None:
    extra = {k: v for k, v in r.items() if k not in ("seconds", "peak_rss_mb")}
    print(f"  {label:52s} {r['seconds']:7.3f} s  {r['peak_rss_mb']:7.1f} MB  {extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=3_000_000)
    parser.add_argument("--new", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/genesis-bench-incremental"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.root, datetime.fromisoformat(args.now)), default=str))
        return 0

    from generate import generate

    history, new, work, agent_root = (args.root / n for n in ("history", "new", "work", "agent"))
    for folder, count, seed in ((history, args.payments, args.seed), (new, args.new, args.seed + 1)):
        marker = folder / f".generated-{count}-{seed}"
        if not marker.exists():
            shutil.rmtree(folder, ignore_errors=True)
            generate(folder, count, seed=seed)
            marker.touch()
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(history, work)
    now = datetime.now(UTC).isoformat()
    print(f"history {args.payments:,} payments + {args.new:,} new; {args.decisions:,} decisions; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs at the start")

    print("ledger-sync")
    full = child("sync-full", work, now)
    show(f"full run on the history ({args.payments:,}), writes the checkpoint", full)
    cold = child("scrape-cold", work, now)
    warm_idle = child("scrape-warm", work, now)
    append_files(new, work)
    nightly = child("sync-nightly", work, now)
    alone = child("sync-alone", new, now)
    rescan = child("sync-rescan", work, now)
    show(f"nightly run after {args.new:,} new payments (checkpoint)", nightly)
    show(f"reconciling the {args.new:,} new payments alone", alone)
    show(f"full rescan of all {args.payments + args.new:,}", rescan)
    print(f"  nightly / alone: time {nightly['seconds'] / alone['seconds']:.2f}x, memory "
          f"{nightly['peak_rss_mb'] / alone['peak_rss_mb']:.2f}x (targets <= 1.5x, <= 1.5x); "
          f"rescan / nightly: time {rescan['seconds'] / nightly['seconds']:.1f}x")
    same = nightly["counts"] == rescan["counts"] and nightly["bad_lines"] == rescan["bad_lines"]
    print("  nightly findings agree with the full rescan" if same else "  NIGHTLY FINDINGS DIFFER FROM THE RESCAN")

    print("exporter (restart to the first complete scrape)")
    warm_new = child("scrape-warm", work, now)
    show(f"no checkpoint: reads all {args.payments:,}, writes one", cold)
    show("restart from the checkpoint, nothing new", warm_idle)
    show(f"restart from the checkpoint, {args.new:,} new payments unread", warm_new)
    print(f"  warm restart: {warm_idle['seconds']:.3f} s (target <= 0.5 s); cold / warm "
          f"{cold['seconds'] / warm_idle['seconds']:.1f}x")
    print("  warm figures agree with a full read" if warm_idle["events"] == cold["events"]
          else "  WARM EVENTS DIFFER FROM THE FULL READ")

    print("GenesisMetaAgent start")
    from approvals import generate_log

    from genesis_payments.approvals.policy import DEFAULT_POLICY, load_policy

    shutil.rmtree(agent_root, ignore_errors=True)
    agent_settings = settings_of(agent_root)
    agent_settings.effective_policy_path.parent.mkdir(parents=True, exist_ok=True)
    agent_settings.effective_policy_path.write_text(json.dumps(DEFAULT_POLICY, indent=2))
    generate_log(agent_settings.approval_log_path, args.decisions, load_policy(agent_settings).hash)
    rebuild = child("agent-rebuild", agent_root, now)
    warm = child("agent-warm", agent_root, now)
    show(f"rebuild from the whole log ({args.decisions:,} decisions)", rebuild)
    show("start from the spend checkpoint", warm)
    print(f"  warm start: {warm['seconds']:.3f} s, {warm['peak_rss_mb']:.0f} MB (targets <= 0.5 s, <= 150 MB); "
          f"rebuild / warm {rebuild['seconds'] / warm['seconds']:.1f}x")
    agree = all(warm[k] == rebuild[k] for k in ("reserved_micro", "archived", "lines"))
    print("  warm state agrees with the rebuild" if agree else "  WARM STATE DIFFERS FROM THE REBUILD")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
