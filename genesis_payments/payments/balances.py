"""Wallet balances per agent (§5): USDC `balanceOf` over EVM JSON-RPC, the same code in both modes.

Live mode reads the token `GENESIS_USDC_CONTRACT` on `GENESIS_RPC_URL` for the addresses of
`GENESIS_AGENT_ADDRESSES`. Fake mode reads the local chain's USDC (found or started, §11) for the
agents whose play-money wallets were funded (`data/a2a-x402/fake/agents.json`, agent → address),
plus any `GENESIS_AGENT_ADDRESSES`. USDC's atomic unit is the micro-USDC, so `balanceOf` is the
balance in micro-USDC exactly.
"""

from __future__ import annotations

from decimal import Decimal

from web3 import Web3

from genesis_payments.chain.rpc import ChainRpcError, connect, with_retries
from genesis_payments.chain.usdc import usdc_contract
from genesis_payments.core.errors import BalanceError, ConfigError
from genesis_payments.core.money import from_micro
from genesis_payments.core.settings import Settings
from genesis_payments.payments.chain_endpoint import chain_endpoint


def agent_addresses(settings: Settings) -> dict[str, str]:
    """Agent → wallet address whose balance is watched, in this mode."""
    if not settings.use_fake:
        if not settings.agent_addresses:
            raise ConfigError("live balances need GENESIS_AGENT_ADDRESSES (JSON object agent → address)")
        return dict(settings.agent_addresses)
    from genesis_payments.payments.fakes.fake_keys import funded_agents

    return {**funded_agents(settings), **settings.agent_addresses}


def payer_address(settings: Settings, agent: str) -> str | None:
    """The wallet address `agent` pays from: its fake key's in fake mode, `GENESIS_AGENT_ADDRESSES` live."""
    if agent in settings.agent_addresses:
        return settings.agent_addresses[agent]
    if settings.use_fake:
        from genesis_payments.payments.fakes.fake_keys import fake_address

        return fake_address(agent)
    return None


def watched_addresses(settings: Settings) -> list[str]:
    """Every wallet whose outgoing USDC ledger-sync accounts for (no error when none is configured)."""
    try:
        return sorted(address.lower() for address in agent_addresses(settings).values())
    except ConfigError:
        return []


def wallet_balances(settings: Settings) -> dict[str, Decimal]:
    """Every watched agent's USDC balance, read from the chain."""
    if not settings.use_fake and (settings.rpc_url is None or not settings.rpc_url.get_secret_value().strip()):
        raise ConfigError("live balances need GENESIS_RPC_URL")
    addresses = agent_addresses(settings)
    if not addresses:
        return {}  # no wallet to watch: nothing to ask a node (and no local chain to start)
    endpoint = chain_endpoint(settings)
    w3 = connect(endpoint.rpc_url, timeout_seconds=settings.http_timeout_seconds)
    return {agent: from_micro(usdc_balance_micro(w3, endpoint.usdc, address))
            for agent, address in sorted(addresses.items())}


def usdc_balance_micro(w3: Web3, token: str, address: str) -> int:
    """One `balanceOf(address)`; errors name the address and the RPC (redacted), never a secret."""
    if not Web3.is_address(address):
        raise ConfigError(f"{address!r} is not a 0x-prefixed 20-byte address")
    call = usdc_contract(w3, token).functions.balanceOf(Web3.to_checksum_address(address))
    try:
        return int(with_retries(w3, f"balance of {address}", call.call))
    except ChainRpcError as exc:
        raise BalanceError(str(exc)) from None
