"""Where the chain is: fake mode's local anvil (found or started), or live mode's `GENESIS_RPC_URL`."""

from __future__ import annotations

from dataclasses import dataclass

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings


@dataclass(frozen=True)
class ChainEndpoint:
    rpc_url: str
    usdc: str


def chain_endpoint(settings: Settings) -> ChainEndpoint:
    """The RPC URL and USDC address that balances and reconciliation read, in either mode."""
    if settings.use_fake:
        from genesis_payments.payments.fakes.local_chain import ensure_local_chain

        chain = ensure_local_chain(settings)
        return ChainEndpoint(chain.rpc_url, chain.usdc)
    if settings.rpc_url is None or not settings.rpc_url.get_secret_value().strip():
        raise ConfigError("reading the chain needs GENESIS_RPC_URL")
    return ChainEndpoint(settings.rpc_url.get_secret_value(), settings.usdc_contract)
