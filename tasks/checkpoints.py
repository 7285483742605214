"""Jobs that go on from a checkpoint (§5): read what was appended, and save where they got to."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.stale_checkpoint import StaleRun, run_stale_payments, save_stale_checkpoint
from tasks.retry import IO_TASK_OPTIONS


@task(name="read-stale-payments", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_stale_payments(settings: Settings, now: datetime, full: bool = False) -> StaleRun:
    """The stale-payments findings from the checkpoint and the lines appended since (or a rescan)."""
    return run_stale_payments(settings, now, full=full, save=False)


@task(name="save-checkpoint", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def save_checkpoint(settings: Settings, run: StaleRun) -> None:
    """Write the run's checkpoint atomically; only called once the run succeeded."""
    save_stale_checkpoint(settings, run)
