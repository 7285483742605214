"""0004_roles.sql: a role per kind of host, least privilege (§12; docs/runbook.md "Several machines").

Agents append decisions and payments but never change or delete them; jobs read and keep only their
own state; the ledgers refuse UPDATE/DELETE even to their owner. Run on the store's real migrations;
where 0002/0003 are not in this checkout yet, stand-ins with the same tables take their place.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from genesis_payments.postgres.connection import connect
from genesis_payments.postgres.migrate import available, upgrade

STAND_INS = {
    "0002": ("0002_approvals.sql", """
CREATE TABLE approval_chain (seq bigint PRIMARY KEY, kind text NOT NULL, intent_id text, decision_id text,
    decision text, resolves text, ts text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL UNIQUE,
    line text NOT NULL);
CREATE TABLE approval_chain_head (singleton boolean PRIMARY KEY DEFAULT true, seq bigint NOT NULL, hash text NOT NULL);
INSERT INTO approval_chain_head VALUES (true, 0, repeat('0', 64));
CREATE TABLE approval_policies (hash text PRIMARY KEY, settings text NOT NULL);
"""),
    "0003": ("0003_payments.sql", """
CREATE TABLE payment_events (seq bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, ts timestamptz NOT NULL,
    payment_id text NOT NULL, status text NOT NULL, agent text NOT NULL, vendor text NOT NULL, chain text NOT NULL,
    token text NOT NULL, amount_micro bigint NOT NULL, business_id text, intent_id text, idempotency_key text,
    tx_hash text, valid_before timestamptz, error text, line text NOT NULL);
CREATE TABLE finance_entries (seq bigserial PRIMARY KEY, entry_id text NOT NULL UNIQUE, ts timestamptz NOT NULL,
    payment_id text NOT NULL, agent text NOT NULL, vendor text NOT NULL, amount_micro bigint NOT NULL,
    kind text NOT NULL, line text NOT NULL);
CREATE TABLE spend_summaries (seq bigserial PRIMARY KEY, business_id text NOT NULL, ts timestamptz NOT NULL,
    line text NOT NULL);
CREATE TABLE payment_authorizations (payment_id text PRIMARY KEY, idempotency_key text NOT NULL,
    intent_id text NOT NULL, status text NOT NULL, record jsonb NOT NULL, payload bytea);
CREATE TABLE alert_state (key text PRIMARY KEY, fingerprint text NOT NULL, sent_at timestamptz NOT NULL);
CREATE TABLE job_checkpoints (reader text PRIMARY KEY, body bytea NOT NULL);
"""),
}
DECISION = ("INSERT INTO approval_chain (seq, kind, ts, prev_hash, hash, line) "
            "VALUES (%s, 'halt', '2026-12-02T00:00:00Z', repeat('0', 64), repeat(%s, 64), '{}')")
PAYMENT = ("INSERT INTO payment_events (event_id, ts, payment_id, status, agent, vendor, chain, token, amount_micro, "
           "line) VALUES (%s, now(), 'pay_1', 'authorized', 'media-agent', 'llm:openai', 'eip155:84532', 'USDC', 1, "
           "'{}')")
_logins = itertools.count(1)


@pytest.fixture
def roles_db(pg_cluster, tmp_path) -> Iterator[str]:
    """A database migrated with this checkout's files, stand-ins for a missing 0002/0003."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    present = {m.version[:4] for m in available()}
    for migration in available():
        shutil.copy(migration.path, folder)
    for number, (name, body) in STAND_INS.items():
        if number not in present:
            (folder / name).write_text(body)
    name = f"roles_{os.getpid()}_{next(_logins)}"
    url = pg_cluster.cluster.create_database(name)
    upgrade(url, folder)
    yield url
    pg_cluster.cluster.drop_database(name)


@pytest.fixture
def login(roles_db) -> Iterator:
    """`login("genesis_agent")`: a connection as a fresh host role that is a member of that group."""
    made: list[tuple[str, psycopg.Connection]] = []

    def as_member(group: str) -> psycopg.Connection:
        user = f"host_{os.getpid()}_{next(_logins)}"
        with connect(roles_db, autocommit=True) as admin:
            admin.execute(f'CREATE ROLE "{user}" LOGIN IN ROLE {group}')
        parts = urlsplit(roles_db)
        conn = connect(urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}")), autocommit=True)
        made.append((user, conn))
        return conn

    yield as_member
    with connect(roles_db, autocommit=True) as admin:
        for user, conn in made:
            conn.close()
            admin.execute(f'DROP ROLE "{user}"')


def refused(conn: psycopg.Connection, statement: str, params: tuple = ()) -> bool:
    try:
        conn.execute(statement, params)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_an_agent_appends_decisions_and_payments_but_cannot_change_or_delete_them(login):
    agent = login("genesis_agent")
    agent.execute(DECISION, (1, "a"))
    agent.execute(PAYMENT, ("evt_1",))
    agent.execute("UPDATE approval_chain_head SET seq = 1, hash = repeat('a', 64)")
    assert refused(agent, "UPDATE approval_chain SET line = '{\"forged\": true}'")
    assert refused(agent, "DELETE FROM approval_chain")
    assert refused(agent, "TRUNCATE approval_chain")
    assert refused(agent, "UPDATE payment_events SET amount_micro = 0")
    assert refused(agent, "DELETE FROM finance_entries")
    assert refused(agent, "INSERT INTO alert_state VALUES ('k', 'f', now())")
    assert refused(agent, "CREATE TABLE mine (id int)")
    assert agent.execute("SELECT count(*) FROM approval_chain").fetchone()[0] == 1


def test_the_jobs_read_everything_and_write_only_their_own_state(login):
    agent, jobs = login("genesis_agent"), login("genesis_jobs")
    agent.execute(PAYMENT, ("evt_1",))
    assert jobs.execute("SELECT count(*) FROM payment_events").fetchone()[0] == 1
    jobs.execute("INSERT INTO alert_state VALUES ('low_balance', 'f1', now())")
    jobs.execute("UPDATE alert_state SET fingerprint = 'f2'")
    jobs.execute("INSERT INTO job_checkpoints VALUES ('ledger-sync', '\\x00')")
    jobs.execute("INSERT INTO spend_summaries (business_id, ts, line) VALUES ('biz', now(), '{}')")
    assert refused(jobs, DECISION, (1, "b"))
    assert refused(jobs, PAYMENT, ("evt_2",))
    assert refused(jobs, "UPDATE payment_authorizations SET status = 'captured'")
    assert refused(jobs, "DELETE FROM alert_state")


def test_no_one_rewrites_a_ledger_not_even_its_owner_or_an_admin(roles_db, login):
    admin = login("genesis_admin")
    admin.execute(PAYMENT, ("evt_1",))
    admin.execute("DELETE FROM alert_state")
    assert refused(admin, "UPDATE payment_events SET amount_micro = 0")
    with connect(roles_db, autocommit=True) as owner:  # the superuser the migrations ran as
        owner.execute("INSERT INTO finance_entries (entry_id, ts, payment_id, agent, vendor, amount_micro, kind, line) "
                      "VALUES ('fin_1', now(), 'pay_1', 'media-agent', 'llm:openai', 1, 'debit', '{}')")
        assert refused(owner, "UPDATE payment_events SET amount_micro = 0")
        assert refused(owner, "DELETE FROM finance_entries")
        assert refused(owner, "TRUNCATE payment_events")


def test_a_table_a_later_migration_adds_is_readable_and_closed_to_writes(roles_db, login):
    with connect(roles_db, autocommit=True) as owner:
        owner.execute("CREATE TABLE later (id bigserial PRIMARY KEY, v text)")
    agent = login("genesis_agent")
    assert agent.execute("SELECT count(*) FROM later").fetchone()[0] == 0
    assert refused(agent, "INSERT INTO later (v) VALUES ('x')")


def test_a_role_outside_the_three_cannot_connect(roles_db, pg_cluster):
    user = f"stranger_{os.getpid()}_{next(_logins)}"
    with connect(roles_db, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{user}" LOGIN')
    try:
        parts = urlsplit(roles_db)
        with pytest.raises(Exception, match="permission denied for database"):
            connect(urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}")))
    finally:
        with connect(roles_db, autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{user}"')
