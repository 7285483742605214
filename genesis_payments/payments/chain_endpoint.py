"""Where this mode's chain is, and what the buyer asks it (§9, §11).

Fake mode: the local anvil (found or started); live mode: `GENESIS_RPC_URL` and `GENESIS_USDC_CONTRACT`.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from genesis_payments.chain.authorizations import authorization_tx, authorization_used
from genesis_payments.chain.rpc import connect
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


def settlement_tx(settings: Settings, payer: str, nonce: str) -> str | None:
    """The tx hash that settled `payer`'s authorization `nonce` on this mode's chain, or None (yet).

    For resolving a `settlement_pending` payment (§9): a hash means `captured`; None with
    `valid_before` passed means `expired`. Raises ChainRpcError when the node cannot tell.
    """
    endpoint = chain_endpoint(settings)
    w3 = connect(endpoint.rpc_url, timeout_seconds=settings.http_timeout_seconds)
    if not authorization_used(w3, endpoint.usdc, payer, nonce):
        return None
    return authorization_tx(w3, endpoint.usdc, payer, nonce, from_block=settings.chain_start_block,
                            block_range=settings.chain_block_range)


class RpcChainView:
    """`PaymentManager`'s `ChainView` over JSON-RPC: which transaction used (payer, nonce) on `asset`.

    Fake mode asks the local chain (found or started), live mode `GENESIS_RPC_URL`; the connection
    is made on first use, so building a manager never needs the chain.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._w3: Web3 | None = None

    def settlement_of(self, network: str, asset: str, payer: str, nonce: str) -> str | None:
        if self._w3 is None:
            endpoint = chain_endpoint(self.settings)
            self._w3 = connect(endpoint.rpc_url, timeout_seconds=self.settings.http_timeout_seconds)
        if not authorization_used(self._w3, asset, payer, nonce):
            return None
        return authorization_tx(self._w3, asset, payer, nonce, from_block=self.settings.chain_start_block,
                                block_range=self.settings.chain_block_range)
