"""One retry rule for every task that touches the disk or the network (conventions: I/O only)."""

from __future__ import annotations

from typing import Any

import httpx
from prefect.tasks import exponential_backoff

from genesis_payments.chain.rpc import ChainRpcError
from genesis_payments.core.errors import BalanceError, DiscordError, LedgerError, database_failure_of

IO_RETRIES = 2
IO_RETRY_DELAYS = exponential_backoff(backoff_factor=2)
IO_RETRY_JITTER = 0.5


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O that may heal (disk, network, an RPC node, Discord 429/5xx), never a refusal or a bug.

    Discord answering 4xx other than 429 (a deleted webhook) and configuration errors are final.
    """
    try:
        state.result()
    except DiscordError as exc:
        return exc.retryable
    except (LedgerError, BalanceError, ChainRpcError, OSError, httpx.TransportError):
        return True
    except Exception as exc:
        return database_failure_of(exc) is not None  # a dead PostgreSQL connection: the retry opens another
    return False


IO_TASK_OPTIONS: dict[str, Any] = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_RETRY_DELAYS,
    "retry_jitter_factor": IO_RETRY_JITTER,
    "retry_condition_fn": retry_transient,
}
