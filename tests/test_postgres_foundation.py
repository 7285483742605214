"""The PostgreSQL foundation of §12: migrations, connections, the throwaway cluster, `db upgrade`."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from genesis_payments.cli.main import main
from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.postgres.connection import connect, transaction_retrying
from genesis_payments.postgres.local_cluster import LocalCluster, free_loopback_port
from genesis_payments.postgres.migrate import MIGRATIONS_DIR, applied_versions, available, pending, upgrade
from tests.support.postgres import TEST_SERVER_SETTINGS

ALL_VERSIONS = [m.version for m in available()]


@pytest.fixture
def empty_url(pg_cluster):
    """A database with nothing in it (no migration applied)."""
    name = f"empty_{next(pg_cluster._names)}"
    url = pg_cluster.cluster.create_database(name)
    yield url
    pg_cluster.cluster.drop_database(name)


def migration_rows(url: str) -> list[str]:
    with connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_upgrade_twice_applies_each_migration_once(empty_url):
    assert pending(empty_url) == ALL_VERSIONS
    assert upgrade(empty_url) == ALL_VERSIONS
    assert upgrade(empty_url) == []
    assert migration_rows(empty_url) == ALL_VERSIONS
    assert pending(empty_url) == []


def test_two_upgrades_at_once_apply_each_migration_once(empty_url):
    start = threading.Barrier(4)
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(upgrade(empty_url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures
    assert sorted(v for applied in results for v in applied) == ALL_VERSIONS
    assert migration_rows(empty_url) == ALL_VERSIONS


def test_a_failing_migration_is_rolled_back_whole_and_the_ones_before_it_stay(empty_url, tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_schema_migrations.sql", folder)
    (folder / "0002_good.sql").write_text("CREATE TABLE good (id int);\n")
    (folder / "0003_bad.sql").write_text("CREATE TABLE half (id int);\nSELECT no_such_function();\n")
    with pytest.raises(LedgerError, match=r"migration 0003_bad failed.*applied before it: 0001_schema_migrations, "
                                          r"0002_good"):
        upgrade(empty_url, folder)
    with connect(empty_url) as conn:
        assert applied_versions(conn) == {"0001_schema_migrations", "0002_good"}
        assert conn.execute("SELECT to_regclass('half')").fetchone()[0] is None
    (folder / "0003_bad.sql").write_text("CREATE TABLE half (id int);\n")
    assert upgrade(empty_url, folder) == ["0003_bad"]


def test_misnamed_or_duplicate_migration_numbers_are_refused(tmp_path):
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(ConfigError, match="share a number"):
        available(tmp_path)
    (tmp_path / "0001_b.sql").unlink()
    (tmp_path / "2-Bad name.sql").write_text("")
    with pytest.raises(ConfigError, match="not named NNNN"):
        available(tmp_path)


def test_connecting_to_a_dead_port_says_where_without_the_password():
    port = free_loopback_port()
    url = f"postgresql://genesis:hunter2-s3cr3t@127.0.0.1:{port}/genesis?connect_timeout=3"
    with pytest.raises(LedgerError) as caught:
        connect(url)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "cannot connect to PostgreSQL" in message
    assert "hunter2" not in message and "s3cr3t" not in message


def test_a_malformed_database_url_is_a_config_error_without_the_password():
    with pytest.raises(ConfigError) as caught:
        connect("postgresql://genesis:hunter2@127.0.0.1:5432/genesis?no_such_option=1")
    assert "hunter2" not in str(caught.value)


def test_transaction_retrying_runs_again_after_a_real_serialization_failure(pg_url):
    with connect(pg_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)")
        setup.execute("INSERT INTO counter VALUES (1, 0)")
    attempts = []
    with connect(pg_url) as conn, connect(pg_url, autocommit=True) as rival:
        def bump(tx: psycopg.Connection) -> int:
            attempts.append(1)
            (n,) = tx.execute("SELECT n FROM counter WHERE id = 1").fetchone()
            if len(attempts) == 1:  # another host commits between our read and our write
                rival.execute("UPDATE counter SET n = n + 10 WHERE id = 1")
            tx.execute("UPDATE counter SET n = %s WHERE id = 1", (n + 1,))
            return n + 1

        assert transaction_retrying(conn, bump, isolation="serializable") == 11
        assert len(attempts) == 2
        assert conn.execute("SELECT n FROM counter").fetchone()[0] == 11


def test_transaction_retrying_gives_up_with_a_ledger_error_after_its_attempts(pg_url):
    def always_conflicts(tx: psycopg.Connection) -> None:
        raise psycopg.errors.SerializationFailure("could not serialize access")

    with connect(pg_url) as conn, pytest.raises(LedgerError, match="rolled the transaction back 3 times"):
        transaction_retrying(conn, always_conflicts, attempts=3)


def test_a_cluster_starts_survives_a_crash_restart_and_stops():
    folder = Path(tempfile.mkdtemp(prefix="genesis-pg-"))
    cluster = LocalCluster(folder, server_settings=TEST_SERVER_SETTINGS)
    try:
        url = cluster.start()
        assert cluster.is_running() and url.startswith("postgresql://postgres@127.0.0.1:")
        conn = connect(url)
        conn.execute("CREATE TABLE kept (id int)")
        conn.execute("INSERT INTO kept VALUES (1)")
        conn.commit()
        conn.execute("INSERT INTO kept VALUES (2)")  # never committed
        cluster.restart(mode="immediate")
        with pytest.raises(psycopg.OperationalError):
            conn.commit()
        conn.close()
        with connect(url) as conn:
            assert conn.execute("SELECT array_agg(id) FROM kept").fetchone()[0] == [1]
        cluster.stop()
        assert not cluster.is_running()
        with pytest.raises(LedgerError, match="cannot connect"):
            connect(url + "?connect_timeout=2")
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def test_db_upgrade_prints_the_versions_applied_then_up_to_date(empty_url, monkeypatch, capsys):
    monkeypatch.setenv("GENESIS_DATABASE_URL", empty_url)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.split() == [word for v in ALL_VERSIONS for word in ("applied", v)]
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == "up to date"


def test_db_upgrade_without_a_database_url_is_exit_2(capsys):
    assert main(["db", "upgrade"]) == 2
    assert "GENESIS_DATABASE_URL is not set" in capsys.readouterr().err


def test_a_database_url_that_is_not_postgresql_is_exit_2_without_repeating_it(monkeypatch, capsys):
    monkeypatch.setenv("GENESIS_DATABASE_URL", "mysql://genesis:hunter2@db.example/genesis")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "GENESIS_DATABASE_URL" in err or "database_url" in err
    assert "postgresql://" in err and "hunter2" not in err


def test_config_shows_the_database_url_with_its_password_masked(monkeypatch, capsys):
    monkeypatch.setenv("GENESIS_DATABASE_URL", "postgres://genesis:hunter2@db.example:5432/genesis?sslmode=verify-full")
    main(["config"])
    out = capsys.readouterr().out
    assert '"GENESIS_DATABASE_URL": "postgres://***@db.example:5432/genesis?sslmode=verify-full"' in out
    assert "hunter2" not in out


def test_the_store_fixture_points_settings_at_a_migrated_database(store, settings):
    assert settings.uses_postgres == (store == "postgres")
    if store == "postgres":
        with connect(settings.database_url.get_secret_value()) as conn:
            assert applied_versions(conn) == set(ALL_VERSIONS)


def test_starting_a_cluster_that_a_killed_run_left_running_reuses_it(pg_cluster):
    again = LocalCluster(pg_cluster.cluster.folder)
    assert again.start() == pg_cluster.cluster.url()
