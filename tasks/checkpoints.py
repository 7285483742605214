"""Jobs that go on from a checkpoint (§5): read what was appended, and save where they got to."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.business_checkpoint import BusinessRun, run_business_summary, save_business_checkpoint
from genesis_payments.jobs.ledger_sync_checkpoint import SyncRun, run_ledger_sync, save_ledger_sync_checkpoint
from genesis_payments.jobs.monitor_checkpoint import MonitorEvents, read_monitor_events, save_monitor_checkpoint
from genesis_payments.jobs.stale_checkpoint import StaleRun, run_stale_payments, save_stale_checkpoint
from genesis_payments.jobs.weekly_checkpoint import WeeklyRun, run_weekly, save_weekly_checkpoint
from tasks.retry import IO_TASK_OPTIONS


@task(name="read-stale-payments", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_stale_payments(settings: Settings, now: datetime, full: bool = False) -> StaleRun:
    """The stale-payments findings from the checkpoint and the lines appended since (or a rescan)."""
    return run_stale_payments(settings, now, full=full, save=False)


@task(name="read-ledger-sync", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_ledger_sync(settings: Settings, now: datetime, full: bool = False) -> SyncRun:
    """Ledger-sync's reconciliation from the checkpoint and what both ledgers gained since (or a rescan)."""
    return run_ledger_sync(settings, now, full=full, save=False)


@task(name="read-monitor-events", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_monitor_payment_events(settings: Settings, full: bool = False) -> MonitorEvents:
    """Failure streaks, invalid transitions and bad lines from the checkpoint and the lines since (or a rescan)."""
    return read_monitor_events(settings, full=full, save=False)


@task(name="read-weekly-totals", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_weekly_totals(settings: Settings, now: datetime, full: bool = False) -> WeeklyRun:
    """The weekly totals from the per-day aggregates of the checkpoint and the lines since (or a rescan)."""
    return run_weekly(settings, now, full=full, save=False)


@task(name="read-business-summary", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def read_business_summary(settings: Settings, business_id: str, now: datetime, full: bool = False) -> BusinessRun:
    """A business's spend summary from the book of the checkpoint and the lines since (or a rescan)."""
    return run_business_summary(settings, business_id, now=now, full=full, save=False)


@task(name="save-checkpoint", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def save_checkpoint(settings: Settings, run: StaleRun | SyncRun | MonitorEvents | WeeklyRun | BusinessRun) -> None:
    """Write the run's checkpoint atomically; only called once the run succeeded."""
    if isinstance(run, BusinessRun):
        save_business_checkpoint(settings, run)
    elif isinstance(run, WeeklyRun):
        save_weekly_checkpoint(settings, run)
    elif isinstance(run, SyncRun):
        save_ledger_sync_checkpoint(settings, run)
    elif isinstance(run, MonitorEvents):
        save_monitor_checkpoint(settings, run)
    else:
        save_stale_checkpoint(settings, run)
