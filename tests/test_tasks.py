"""Task-layer rules: which failures are retried, and where webhook URLs come from."""

from __future__ import annotations

import httpx
import pytest

from genesis_payments.core.errors import ConfigError, LedgerError
from genesis_payments.notify.discord import DiscordRejected, DiscordUnavailable
from tasks.retry import retry_transient


class FailedState:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def result(self):
        raise self.error


@pytest.mark.parametrize(("error", "retried"), [
    (DiscordUnavailable("Discord alerts channel: HTTP 502 after 5 tries"), True),
    (DiscordRejected("HTTP 404"), False),
    (LedgerError("cannot read"), True),
    (httpx.ConnectError("refused"), True),
    (ConfigError("no webhook"), False),
    (KeyError("bug"), False),
])
def test_only_transient_failures_are_retried(error, retried):
    assert retry_transient(None, None, FailedState(error)) is retried


def test_a_secret_block_wins_over_the_environment_and_a_variable_sets_thresholds(flow_env, monkeypatch):
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.variables import Variable

    from tasks.runtime_settings import load_runtime_settings

    monkeypatch.setenv("PAYMENTS_USE_FAKE", "false")
    monkeypatch.setenv("GENESIS_DISCORD_ALERTS_WEBHOOK_URL", "http://127.0.0.1:9/api/webhooks/env/url")
    monkeypatch.setenv("GENESIS_FAILURE_STREAK", "9")
    block_id = Secret(value="http://127.0.0.1:9/api/webhooks/block/url").save("genesis-discord-alerts-webhook")
    Variable.set("genesis_settings", {"low_balance_usd": "75", "failure_streak": 3}, overwrite=True)
    try:
        settings = load_runtime_settings()
        assert settings.discord_alerts_webhook_url.get_secret_value() == "http://127.0.0.1:9/api/webhooks/block/url"
        assert str(settings.low_balance_usd) == "75.000000"
        assert settings.failure_streak == 9  # the environment keeps its value
    finally:
        with get_client(sync_client=True) as client:
            client.delete_block_document(block_id)
        Variable.unset("genesis_settings")
    settings = load_runtime_settings()  # no block: the environment's URL stands
    assert settings.discord_alerts_webhook_url.get_secret_value() == "http://127.0.0.1:9/api/webhooks/env/url"
