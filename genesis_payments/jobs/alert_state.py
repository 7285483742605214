"""When an alert is due (§5): when it first appears, when it changes, and again after the cooldown.

An alert is identified by a key (job and channel) and a fingerprint of what it says: the
identities of its findings (which agent, which vendor, which payment, which kind), not the
figures that drift every hour (a balance, an age), so a standing problem is not re-sent hourly.
The state lives in one small JSON file per key under `settings.state_dir / "alerts"` (on
PostgreSQL, one row per key of `alert_state`: `alert_state_for` picks the store in use); time is
injected so the cooldown can be tested.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, parse_utc, utc_now

# Fields that say which thing a finding is about; the rest are measurements.
IDENTITY_FIELDS = ("kind", "payment_id", "agent", "vendor")


def fingerprint(findings: Iterable[dict[str, Any]]) -> str:
    """A stable hash of which findings there are (order and measurements ignored)."""
    identities = sorted({json.dumps({k: f.get(k) for k in IDENTITY_FIELDS}, sort_keys=True) for f in findings})
    return hashlib.sha256("\n".join(identities).encode("utf-8")).hexdigest()


class AlertState:
    def __init__(self, state_dir: Path, cooldown_seconds: int, clock: Callable[[], datetime] = utc_now) -> None:
        self.dir = Path(state_dir) / "alerts"
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.clock = clock

    def due(self, key: str, print_: str) -> bool:
        """True when this alert has not been sent, says something new, or its cooldown is over."""
        last = read_json_file(self._path(key), default=None)
        if not isinstance(last, dict) or last.get("fingerprint") != print_:
            return True
        try:
            sent_at = parse_utc(last.get("sent_at"))
        except ValueError:
            return True
        return self.clock() - sent_at >= self.cooldown

    def mark_sent(self, key: str, print_: str) -> None:
        write_json_atomic(self._path(key), {"fingerprint": print_, "sent_at": format_utc(self.clock())}, mode=0o600)

    def clear(self, key: str) -> None:
        """The problem is gone: when it comes back it is new again."""
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".json")


def alert_state_for(settings: Settings, cooldown_seconds: int, clock: Callable[[], datetime] = utc_now) -> Any:
    """The alert state of the store in use: files under `state/alerts/`, or PostgreSQL's `alert_state`."""
    if settings.uses_postgres:
        from genesis_payments.postgres.job_state import PgAlertState

        return PgAlertState(settings, cooldown_seconds, clock)
    return AlertState(settings.state_dir, cooldown_seconds, clock)
