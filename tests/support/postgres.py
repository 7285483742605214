"""Stand-in for the pgops foundation's fixtures (replaced by theirs at merge).

`pg_cluster`: one throwaway PostgreSQL per session (initdb/pg_ctl under a temp folder, loopback);
`pg_url`: a fresh migrated database per test; `store`: "files" or "postgres" (sets GENESIS_DATABASE_URL).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    try:
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        return Path(done.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Cluster:
    folder: Path
    port: int
    bindir: Path
    template: str = "genesis_template"

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args]),
                       check=True, capture_output=True)


_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory):
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed: apt-get install -y postgresql")
    # Not under pytest's 0700 temp folders: the postgres user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="genesis-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    cluster = Cluster(folder, port, bindir)
    cluster.pg_ctl("-o", f"-p {port} -k {folder} -h 127.0.0.1 -c fsync=off", "-l", str(folder / "log"), "-w", "start")
    import psycopg

    from genesis_payments.postgres.migrate import upgrade

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {cluster.template}")
    upgrade(cluster.url(cluster.template))
    try:
        yield cluster
    finally:
        cluster.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    import psycopg

    name = f"t{os.getpid()}_{next(_COUNTER)}"
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {pg_cluster.template}")
    return pg_cluster.url(name)


@pytest.fixture(params=["files", "postgres"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        monkeypatch.setenv("GENESIS_DATABASE_URL", request.getfixturevalue("pg_url"))
    return request.param
