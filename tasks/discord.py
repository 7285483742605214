"""Send a message to a Discord channel, at most once per change (network: retried on 429/5xx only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from genesis_payments.core.settings import Settings
from genesis_payments.jobs.alert_state import alert_state_for
from genesis_payments.notify.discord import Attachment, GenesisDiscord
from tasks.retry import IO_TASK_OPTIONS


@task(name="send-discord-message", cache_policy=NO_CACHE, **IO_TASK_OPTIONS)
def send_alert(
    settings: Settings, key: str, fingerprint: str, channel: str, payload: dict[str, Any],
    files: Sequence[Attachment] = (),
) -> int:
    """Post `payload` unless the same alert (key and fingerprint) went out within the cooldown; 1 if sent.

    The state is recorded right after Discord accepted the message, so a retry of this task (or a
    duplicate run of the job) finds it and does not post twice.
    """
    logger = get_run_logger()
    state = alert_state_for(settings, settings.alert_cooldown_seconds)
    if not state.due(key, fingerprint):
        logger.info("%s: unchanged since it was last sent and within the cooldown; not sent again", key)
        return 0
    GenesisDiscord(settings).send(channel, payload, files=files)
    state.mark_sent(key, fingerprint)
    logger.info("%s: sent to the %s channel%s", key, channel, " (outbox, fake mode)" if settings.use_fake else "")
    return 1


def clear_alert(settings: Settings, key: str) -> None:
    """The condition behind `key` is gone, so its next occurrence is news."""
    alert_state_for(settings, settings.alert_cooldown_seconds).clear(key)

