"""Retry only what is worth retrying: file I/O problems, never a rule or a bad record."""

from __future__ import annotations

from typing import Any

from genesis_payments.errors import LedgerError

IO_RETRIES = 3
IO_RETRY_JITTER = 0.5


def io_retry_delays(retries: int) -> list[float]:
    """Exponential backoff (0.5 s, 1 s, 2 s …); Prefect adds the jitter."""
    return [0.5 * 2**attempt for attempt in range(retries)]


def retry_on_io_error(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except LedgerError:
        return True
    except Exception:
        return False
    return False
