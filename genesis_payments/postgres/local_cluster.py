"""A throwaway PostgreSQL cluster in one folder, on a loopback port: tests, `make run-postgres`, a first try.

`LocalCluster(folder).start()` runs Debian's `initdb` (once) and `pg_ctl start` for a cluster whose
files, log and socket all live in `folder`, listening on 127.0.0.1 only, with trust
authentication (anyone on this host may connect: never for real money). `stop()` and
`restart(mode="immediate")` (a crash, as far as PostgreSQL can tell) drive `pg_ctl` again.

`initdb` refuses to run as root (the sessions and CI run as root): as root the folder is given to
the `postgres` user and every server command runs through `runuser -u postgres --`
(docs/reference postgres-notes).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

from psycopg import sql

from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.postgres.connection import connect

SERVER_USER = "postgres"
# The socket path (FOLDER/.s.PGSQL.PORT) must fit in sun_path (108 bytes).
_MAX_SOCKET_FOLDER = 90
_INSTALL_HINT = "install PostgreSQL's server (Debian: apt-get install -y postgresql, or `make postgresql-tools`)"


def _as_server_user() -> list[str]:
    """The prefix that runs a command as `postgres` when we are root. util-linux's `runuser` lives in
    /usr/sbin, which a root shell started with a narrow PATH (`env -i`, cron) may not search."""
    found = shutil.which("runuser") or next(
        (str(p) for p in (Path("/usr/sbin/runuser"), Path("/sbin/runuser")) if p.exists()), None)
    if found is None:
        raise ConfigError(f"running as root needs util-linux's `runuser` to start PostgreSQL as `{SERVER_USER}`")
    return [found, "-u", SERVER_USER, "--"]


def postgres_bindir() -> Path:
    """The folder of `initdb` and `pg_ctl` (`pg_config --bindir`; Debian keeps them off PATH)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise ConfigError(f"PostgreSQL's initdb and pg_ctl were not found: {_INSTALL_HINT}")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """One PostgreSQL cluster under `folder` (data/, server.log, the socket), served on 127.0.0.1."""

    def __init__(self, folder: Path | str, *, server_settings: Mapping[str, str] | None = None) -> None:
        self.folder = Path(folder).resolve()
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.server_settings = dict(server_settings or {})
        self.port: int | None = None
        self._bindir: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, port: int | None = None) -> str:
        """Create the cluster if needed, start it, wait until it accepts connections; its URL."""
        if len(str(self.folder)) > _MAX_SOCKET_FOLDER:
            raise ConfigError(f"cluster folder {self.folder} is too long for PostgreSQL's socket: use a shorter one")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(self.folder)
        if self.is_running():  # left by a run that was killed: use it rather than fail to start a second one
            self.port = self._running_port()
            return self.url()
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SERVER_USER,
                      "--encoding=UTF8", "--locale=C", "--no-sync", doing="create the cluster")
        chosen = port if port is not None else free_loopback_port()
        options = [f"-p {chosen}", f"-k {self.folder}", "-h 127.0.0.1"]
        options += [f"-c {name}={value}" for name, value in self.server_settings.items()]
        self._run("pg_ctl", "-D", str(self.data), "-o", " ".join(options), "-l", str(self.log),
                  "-w", "-t", "60", "start", doing=f"start the server on 127.0.0.1:{chosen}")
        self.port = chosen
        return self.url()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server ("fast": roll back sessions and shut down cleanly; "immediate": a crash)."""
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data), "-m", _mode(mode), "-w", "-t", "60", "stop",
                      doing="stop the server")

    def restart(self, mode: str = "immediate") -> None:
        """Stop (by default as a crash: no checkpoint, recovery from the WAL) and start again, same port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", _mode(mode), "-l", str(self.log),
                  "-w", "-t", "60", "restart", doing="restart the server")

    def is_running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        return self._run("pg_ctl", "-D", str(self.data), "status", doing="ask the status", check=False) == 0

    def _running_port(self) -> int:
        # postmaster.pid: pid, data folder, start time, port, … (one per line; PostgreSQL's documented layout).
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            raise LedgerError(f"a server runs on {self.data} but its port is unreadable; stop it: "
                              f"pg_ctl -D {self.data} stop") from None

    def __enter__(self) -> LocalCluster:
        if self.port is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        if self.port is None:
            raise LedgerError(f"the cluster in {self.folder} is not started")
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE `name` (as a copy of `template` when given); its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name`, ending its sessions first."""
        with connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- running the server's programs -------------------------------------------------------------
    def _run(self, program: str, *args: str, doing: str, check: bool = True) -> int:
        if self._bindir is None:
            self._bindir = postgres_bindir()
        command = [str(self._bindir / program), *args]
        if os.geteuid() == 0:
            command = [*_as_server_user(), *command]
        # stdin closed and output captured: pg_ctl's server must not hold the caller's terminal or pipes.
        out = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
                             cwd=self.folder)
        if check and out.returncode != 0:
            detail = (out.stderr or out.stdout).strip().splitlines()[-3:]
            raise LedgerError(
                f"PostgreSQL could not {doing} in {self.folder} ({program} exit {out.returncode}: "
                f"{' / '.join(detail) or 'no output'}); see {self.log}"
            )
        return out.returncode

    def _give_to_server_user(self, folder: Path) -> None:
        if os.geteuid() != 0:
            return
        try:
            account = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise ConfigError(f"running as root needs the `{SERVER_USER}` user to own the cluster: {_INSTALL_HINT}") \
                from None
        os.chown(folder, account.pw_uid, account.pw_gid)
        reachable = subprocess.run([*_as_server_user(), "test", "-w", str(folder)],
                                   capture_output=True, check=False)
        if reachable.returncode != 0:
            raise ConfigError(
                f"the `{SERVER_USER}` user cannot reach {folder} (a parent folder is private to root): "
                "put the cluster under a folder others may enter, e.g. /tmp or the project's data/"
            )


def _mode(mode: str) -> str:
    if mode not in ("smart", "fast", "immediate"):
        raise ValueError(f"mode must be smart, fast or immediate, not {mode!r}")
    return mode
