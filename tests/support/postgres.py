"""PostgreSQL for the tests (§12): one throwaway cluster per test session, a fresh database per test.

- `pg_cluster` (session): a `LocalCluster` in a temporary folder on a free loopback port, stopped
  and removed at the end. Each xdist worker is its own session, so it has its own cluster.
  Skipped, with the reason, only where PostgreSQL's server binaries are missing (`make test`
  installs them first, so CI never skips).
- `pg_url` (function): a new database, copied from a template migrated to head (CREATE DATABASE …
  TEMPLATE takes milliseconds), dropped after the test.
- `store` (function, parametrised "files" / "postgres"): for "postgres" sets GENESIS_DATABASE_URL
  to a fresh `pg_url`; yields the store's kind. Request it BEFORE `settings` (Settings reads the
  environment when it is built): `def test_x(store, settings): ...`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from genesis_payments.core.errors import ConfigError
from genesis_payments.postgres.local_cluster import LocalCluster, postgres_bindir
from genesis_payments.postgres.migrate import available, upgrade

# Throwaway data: a crash of PostgreSQL (pg_ctl -m immediate) loses nothing without fsync; only a
# crash of the machine would, and that is not what the tests simulate.
TEST_SERVER_SETTINGS = {"fsync": "off", "full_page_writes": "off", "max_connections": "200"}


class TestCluster:
    """The session's cluster and its migrated template, built on first use."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self._template: str | None = None
        self._names = itertools.count(1)

    def template(self) -> str:
        # Lazily, after collection: every migration file of the checkout is known by then, and the
        # template's name carries their versions, so a template never lags the files.
        if self._template is None:
            versions = [m.version for m in available()]
            name = f"genesis_template_{len(versions)}"
            self.cluster.drop_database(name)
            upgrade(self.cluster.create_database(name))
            self._template = name
        return self._template

    def fresh_database(self) -> tuple[str, str]:
        name = f"genesis_test_{os.getpid()}_{next(self._names)}"
        url = self.cluster.create_database(name, template=self.template())
        upgrade(url)  # at head already: a no-op that fails loudly if the template were behind
        return name, url


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TestCluster]:
    try:
        postgres_bindir()
    except ConfigError as exc:
        pytest.skip(f"PostgreSQL server binaries missing ({exc})")
    # Under /tmp, not pytest's tmp folders: those are private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="genesis-pg-"))
    cluster = LocalCluster(folder, server_settings=TEST_SERVER_SETTINGS)
    try:
        cluster.start()
        yield TestCluster(cluster)
    finally:
        try:
            cluster.stop(mode="immediate")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: TestCluster) -> Iterator[str]:
    name, url = pg_cluster.fresh_database()
    yield url
    pg_cluster.cluster.drop_database(name)


@pytest.fixture(params=["files", "postgres"])
def store(request: pytest.FixtureRequest, genesis_root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        monkeypatch.setenv("GENESIS_DATABASE_URL", request.getfixturevalue("pg_url"))
    return request.param
