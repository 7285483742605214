"""The Prefect server on the store's PostgreSQL (§12): its settings derived from GENESIS_DATABASE_URL."""

from __future__ import annotations

import os

import pytest

from deployments.prefect_database import prefect_server_database_env
from genesis_payments.core.errors import ConfigError
from genesis_payments.postgres.connection import connect


def test_the_prefect_database_is_created_beside_the_store_once(pg_url, pg_cluster):
    name = f"prefect_{os.getpid()}"
    try:
        env = prefect_server_database_env(pg_url, database=name)
        again = prefect_server_database_env(pg_url, database=name)
        assert env == again
        url = env["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
        assert url.startswith("postgresql+asyncpg://postgres@127.0.0.1:") and url.endswith(f"/{name}")
        with connect(url.replace("postgresql+asyncpg", "postgresql")) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == name
    finally:
        pg_cluster.cluster.drop_database(name)


def test_libpq_tls_options_become_prefects_tls_settings_and_prefect_reads_them(monkeypatch):
    from deployments import prefect_database

    monkeypatch.setattr(prefect_database, "ensure_database", lambda url, name: url)
    env = prefect_server_database_env(
        "postgresql://genesis:pw@db.example:5432/genesis?sslmode=verify-full&sslrootcert=/etc/genesis/ca.pem")
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == "postgresql+asyncpg://genesis:pw@db.example:5432/prefect"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from prefect.settings import Settings as PrefectSettings

    tls = PrefectSettings().server.database.sqlalchemy.connect_args.tls
    assert (tls.enabled, tls.ca_file, tls.check_hostname) == (True, "/etc/genesis/ca.pem", True)


def test_a_database_url_naming_a_socket_folder_asks_for_prefects_own_setting(monkeypatch):
    from deployments import prefect_database

    monkeypatch.setattr(prefect_database, "ensure_database", lambda url, name: url)
    with pytest.raises(ConfigError, match="PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        prefect_server_database_env("postgresql:///genesis?host=/var/run/postgresql")
