"""The jobs' own state on PostgreSQL: checkpoints (`job_checkpoints`) and alert state (`alert_state`).

A checkpoint row holds the same Arrow IPC bytes as the file under `state/checkpoints/`, its
positions being sequence high-water marks; it is replaced in one transaction, so a run that dies
mid-save leaves the previous one, as the file's rename does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now
from genesis_payments.ledgers.checkpoints import Checkpoint, checkpoint_bytes, checkpoint_from
from genesis_payments.postgres.sessions import database_url, in_transaction, shared_connection


class PgCheckpoints:
    def __init__(self, settings: Settings) -> None:
        self.url = database_url(settings)

    def load(self, reader: str) -> tuple[Checkpoint | None, str | None]:
        body = self._get(reader)
        if body is None:
            return None, None
        return checkpoint_from(lambda: pa.BufferReader(body), f"{reader} (PostgreSQL)")

    def _get(self, reader: str) -> bytes | None:
        # Binary results: a checkpoint of a million payments is ~100 MB, which text (hex) would double.
        row = shared_connection(self.url).execute(
            "SELECT body FROM job_checkpoints WHERE reader = %s", (reader,), binary=True).fetchone()
        return None if row is None else bytes(row[0])

    def save(self, reader: str, checkpoint: Checkpoint | None) -> None:
        if checkpoint is None:
            return
        self._put(reader, checkpoint_bytes(checkpoint))

    def _put(self, reader: str, body: bytes) -> None:
        in_transaction(self.url, lambda conn: conn.execute(
            "INSERT INTO job_checkpoints (reader, body, saved_at) VALUES (%s, %b, now()) "
            "ON CONFLICT (reader) DO UPDATE SET body = EXCLUDED.body, saved_at = EXCLUDED.saved_at",
            (reader, body)))


    def load_document(self, reader: str) -> Any:
        """A checkpoint kept as JSON (the chain scan's), or None."""
        body = self._get(reader)
        if body is None:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None  # unreadable: the reader starts over, as from a damaged file

    def save_document(self, reader: str, document: Any) -> None:
        self._put(reader, json.dumps(document, separators=(",", ":")).encode("utf-8"))


class PgAlertState:
    """`jobs.alert_state.AlertState` with its state in one row per alert key."""

    def __init__(self, settings: Settings, cooldown_seconds: int, clock: Callable[[], datetime] = utc_now) -> None:
        self.url = database_url(settings)
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.clock = clock

    def due(self, key: str, print_: str) -> bool:
        row = shared_connection(self.url).execute(
            "SELECT fingerprint, sent_at FROM alert_state WHERE key = %s", (key,)).fetchone()
        if row is None or row[0] != print_:
            return True
        return self.clock() - row[1] >= self.cooldown

    def mark_sent(self, key: str, print_: str) -> None:
        in_transaction(self.url, lambda conn: conn.execute(
            "INSERT INTO alert_state (key, fingerprint, sent_at) VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE "
            "SET fingerprint = EXCLUDED.fingerprint, sent_at = EXCLUDED.sent_at", (key, print_, self.clock())))

    def clear(self, key: str) -> None:
        """The problem is gone: an empty fingerprint matches no alert, so its return is news. (An
        UPDATE, not a DELETE: `genesis_jobs` may insert and update its state, never delete.)"""
        in_transaction(self.url, lambda conn: conn.execute(
            "UPDATE alert_state SET fingerprint = '' WHERE key = %s", (key,)))
