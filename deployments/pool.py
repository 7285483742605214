"""`genesis-payments serve --pool`: the deployments of prefect.yaml on a process work pool, run by workers.

The same entries as `serve`, but the way several machines run them: the pool `genesis-payments`
(type process), `prefect --no-prompt deploy --all` from the project folder, and N
`prefect worker start --pool genesis-payments --type process` processes on this host. Each
worker runs each flow run it picks up in a subprocess of its own. On several hosts the
same three commands are run by hand (docs/runbook.md, "Several machines"); this module is the
one-host form, and it stops every process it started (workers and their flow runs) when it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from deployments.project import PROJECT_ROOT

PREFECT = [sys.executable, "-m", "prefect"]
STOP_GRACE_SECONDS = 20.0


def ensure_work_pool(name: str) -> None:
    """Create the process pool `name` unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def deploy_all(log_path: Path) -> None:
    """`prefect --no-prompt deploy --all` in the project folder: every entry of prefect.yaml on the pool."""
    with open(log_path, "ab") as log:
        done = subprocess.run([*PREFECT, "--no-prompt", "deploy", "--all"], cwd=PROJECT_ROOT, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`prefect deploy --all` failed (exit {done.returncode}); see {log_path}")


@contextlib.contextmanager
def running_workers(count: int, pool: str, log_dir: Path, log: Callable[[str], None]) -> Iterator[list]:
    """`count` process workers on `pool`; on leaving, each worker and every flow run it started is stopped."""
    workers: list[subprocess.Popen] = []
    host = socket.gethostname()
    try:
        for number in range(1, count + 1):
            log_path = log_dir / f"prefect-worker-{number}.log"
            with open(log_path, "ab") as out:
                workers.append(subprocess.Popen(
                    [*PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--name", f"{host}-{number}"],
                    cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,  # a Ctrl-C reaches us first; we stop the workers in order
                ))
            log(f"worker {host}-{number} on pool {pool} (log {log_path})")
        yield workers
    finally:
        stop_process_trees([worker.pid for worker in workers])
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=1)


def watch_workers(workers: list[subprocess.Popen]) -> None:
    """Block until interrupted (Ctrl-C, SIGTERM); a worker that exits on its own is an error."""
    while True:
        for worker in workers:
            if worker.poll() is not None:
                raise RuntimeError(f"a Prefect worker exited with code {worker.returncode}; see its log")
        time.sleep(1)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Under a process manager SIGTERM means stop: handled like Ctrl-C, so everything is cleaned up."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_process_trees(pids: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each process and all its descendants (flow runs live in sessions of their own, out of
    reach of a group signal), then SIGKILL whatever is left after `grace` seconds."""
    targets = [pid for root in pids for pid in [root, *descendants(root)]]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_alive(pid) for pid in targets):
        time.sleep(0.2)
    # Children a worker started while it was stopping.
    targets += [pid for root in targets if is_alive(root) for pid in descendants(root)]
    for pid in targets:
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name, in parentheses, may hold spaces: the fields after its last ')' are fixed.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is as good as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return False
