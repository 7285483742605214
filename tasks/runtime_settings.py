"""Settings as a flow run sees them: the environment, plus Prefect Variables and Secret blocks.

- Secret blocks (encrypted by the Prefect server) hold the live secrets; when one exists it wins
  over the environment, so an operator can rotate a webhook or key in the UI without redeploying.
- The Prefect Variable `genesis_settings` (a JSON object of setting name → value, e.g.
  `{"low_balance_usd": "75", "alert_cooldown_seconds": 3600}`) changes thresholds for every run;
  a setting also given in the environment keeps the environment's value.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr, ValidationError

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings, env_name
from genesis_payments.ledgers.jsonl import describe_validation_error

SECRET_BLOCKS = {
    "wallet_private_key": "genesis-wallet-private-key",
    "discord_dashboard_webhook_url": "genesis-discord-dashboard-webhook",
    "discord_alerts_webhook_url": "genesis-discord-alerts-webhook",
    "rpc_url": "genesis-rpc-url",
}
SETTINGS_VARIABLE = "genesis_settings"


def load_runtime_settings() -> Settings:
    """Environment + Variable overrides, then Secret blocks in live mode; ConfigError when invalid."""
    try:
        settings = Settings(**_variable_overrides())
    except ValidationError as exc:
        raise ConfigError(f"invalid settings (environment or Variable {SETTINGS_VARIABLE}): "
                          f"{describe_validation_error(exc)}") from None
    if settings.use_fake:
        return settings
    secrets = {field: SecretStr(value) for field, value in _secret_block_values().items()}
    return settings.model_copy(update=secrets)


def _variable_overrides() -> dict[str, Any]:
    from prefect.variables import Variable

    try:
        overrides = Variable.get(SETTINGS_VARIABLE, default=None)
    except Exception:  # no API reachable (a plain `python -m flows.x` without a server): env only
        return {}
    if not isinstance(overrides, dict):
        return {}
    fields = Settings.model_fields
    return {name: value for name, value in overrides.items()
            if name in fields and name not in SECRET_BLOCKS and env_name(name) not in os.environ}


def _secret_block_values() -> dict[str, str]:
    from prefect.blocks.system import Secret

    found = {}
    for field, block in SECRET_BLOCKS.items():
        try:
            found[field] = str(Secret.load(block).get())
        except Exception:  # no such block (or no server): the environment's value stands
            continue
    return found
