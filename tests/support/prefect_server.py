"""A real Prefect server, work pool and worker on loopback, driven like an operator would.

Used by the end-to-end tests: `prefect server start`, `prefect work-pool create`,
`prefect --no-prompt deploy --all`, `prefect worker start`, and the REST API over httpx.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deployments.serve import wait_for_health

PREFECT = [sys.executable, "-m", "prefect"]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrefectStack:
    home: Path
    project_dir: Path
    env: dict[str, str]
    api_url: str
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, home: Path, project_dir: Path, extra_env: dict[str, str]) -> PrefectStack:
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            "PREFECT_UI_ENABLED": "false",
            **extra_env,
        }
        stack = cls(home, project_dir, env, api_url)
        stack.spawn("server", [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)])
        stack.wait_healthy()
        return stack

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.home / f"{name}.log"
        self.logs.append(log)
        with open(log, "ab") as handle:
            process = subprocess.Popen(
                argv, cwd=self.project_dir, env=env or self.env, stdout=handle, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def run(self, argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        done = subprocess.run(
            argv, cwd=self.project_dir, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv[2:])} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def wait_healthy(self) -> None:
        try:
            wait_for_health(self.api_url, self.processes[0])
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{self.tail_logs()}") from None

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        # SQLite under a busy worker answers 503 now and then; Prefect's own client retries too.
        for attempt in range(10):
            response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
            if response.status_code not in (429, 503) or attempt == 9:
                break
            time.sleep(0.5 * (attempt + 1))
        response.raise_for_status()
        return response

    def deployment_ids(self) -> dict[str, str]:
        return {d["name"]: d["id"] for d in self.api("POST", "/deployments/filter", json={}).json()}

    def create_run(self, deployment_id: str, parameters: dict | None = None, job_variables: dict | None = None) -> str:
        body: dict = {"parameters": parameters or {}}
        if job_variables:
            body["job_variables"] = job_variables
        return self.api("POST", f"/deployments/{deployment_id}/create_flow_run", json=body).json()["id"]

    def flow_run(self, run_id: str) -> dict:
        return self.api("GET", f"/flow_runs/{run_id}").json()

    def wait_for_state(self, run_id: str, timeout: float = 240, after_retry: bool = False) -> dict:
        """Wait for a terminal state; `after_retry` waits for the run to have left the old one first."""
        deadline = time.monotonic() + timeout
        started = not after_retry
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            started = started or run["state_type"] not in TERMINAL
            if started and run["state_type"] in TERMINAL:
                return run
            time.sleep(1)
        raise AssertionError(f"flow run {run_id} still {run['state_type']} after {timeout} s:\n{self.tail_logs()}")

    def retry(self, run_id: str) -> None:
        """What the UI's Retry does: the same run goes back to Scheduled for the worker."""
        self.api(
            "POST",
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
        )

    def tail_logs(self, lines: int = 40) -> str:
        out = []
        for log in self.logs:
            if log.exists():
                out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
