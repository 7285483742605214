"""The buyer's store on PostgreSQL: the rules are constraints, the signed authorization is ciphertext."""

from __future__ import annotations

import psycopg
import pytest

from genesis_payments.core.errors import ConfigError, PaymentRefused
from genesis_payments.core.settings import Settings
from genesis_payments.payments.errors import IdempotencyConflict
from genesis_payments.payments.store import AuthorizationStore

SIGNATURE = "0x" + "ab" * 65


def _record(payment: str, intent: str = "intent-1", key: str = "key-1", status: str = "authorized") -> dict:
    return {"payment_id": "pay_" + payment * 32, "intent_id": intent, "idempotency_key": key, "status": status,
            "amount_usd": "1.000000", "created_at": "2026-11-26T03:00:00.000000+00:00", "unlogged": [],
            "payload": {"x402Version": 2, "payload": {"signature": SIGNATURE}}}


@pytest.fixture
def pg_settings(pg_url, monkeypatch) -> Settings:
    monkeypatch.setenv("GENESIS_DATABASE_URL", pg_url)
    return Settings()


def test_a_second_live_payment_of_one_approval_is_refused_by_the_database(pg_settings):
    store = AuthorizationStore(pg_settings)
    store.save(_record("a"))
    with pytest.raises(PaymentRefused, match=r"intent 'intent-1' already has payment pay_a+ \(authorized\); one "
                                             "approval pays once"):
        store.save(_record("b", key="key-2"))
    store.save(_record("b", key="key-2", status="signed"))  # a signature never handed out is not a payment
    store.save({**_record("a"), "status": "failed"})  # a failed payment frees the approval
    store.save(_record("b", key="key-2"))
    assert store.payments_of_intent("intent-1") == ["pay_" + "a" * 32, "pay_" + "b" * 32]


def test_an_idempotency_key_names_one_authorized_payment(pg_settings):
    store = AuthorizationStore(pg_settings)
    store.save(_record("a"))
    with pytest.raises(IdempotencyConflict, match=r"idempotency key 'key-1' belongs to payment pay_a+ of intent"):
        store.save(_record("b", intent="intent-2"))
    assert store.payment_for_key("key-1") == "pay_" + "a" * 32


def test_the_signed_authorization_is_stored_encrypted_and_destroyed_when_scrubbed(pg_settings, pg_url):
    store = AuthorizationStore(pg_settings)
    store.save(_record("a"))
    with psycopg.connect(pg_url) as conn:
        raw = conn.execute("SELECT record::text, payload FROM payment_authorizations").fetchone()
    assert SIGNATURE not in raw[0] and SIGNATURE.encode() not in bytes(raw[1])
    assert store.load("pay_" + "a" * 32)["payload"]["payload"]["signature"] == SIGNATURE
    store.save({k: v for k, v in _record("a", status="captured").items() if k != "payload"})
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT payload FROM payment_authorizations").fetchone() == (None,)


def test_a_host_without_the_key_cannot_read_the_authorization_and_says_so(pg_settings, pg_url, tmp_path, monkeypatch):
    AuthorizationStore(pg_settings).save(_record("a"))
    monkeypatch.setenv("GENESIS_ROOT", str(tmp_path / "other-host"))
    with pytest.raises(ConfigError, match="every buyer host needs the same GENESIS_AUTHORIZATION_KEY"):
        AuthorizationStore(Settings()).load("pay_" + "a" * 32)
    key = (pg_settings.state_dir / "authorization.key").read_text().strip()
    monkeypatch.setenv("GENESIS_AUTHORIZATION_KEY", key)
    assert AuthorizationStore(Settings()).load("pay_" + "a" * 32)["payload"]["payload"]["signature"] == SIGNATURE


def test_a_named_lock_is_held_in_the_database_and_freed_with_its_session(pg_settings, pg_url):
    def free_elsewhere() -> bool:  # another session, as another host would have
        with psycopg.connect(pg_url, autocommit=True) as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended('payments:intent:x', 0))").fetchone()[0]
            conn.execute("SELECT pg_advisory_unlock_all()")
            return got

    with AuthorizationStore(pg_settings).locked("intent:x"):
        assert free_elsewhere() is False
    assert free_elsewhere() is True
