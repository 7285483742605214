"""Wallet balances per agent (§5): the fake wallets file, or USDC `balanceOf` over EVM JSON-RPC.

Live mode asks the RPC node (`GENESIS_RPC_URL`) for `balanceOf(address)` of the USDC contract
(`GENESIS_USDC_CONTRACT`) with one `eth_call` per agent address (`GENESIS_AGENT_ADDRESSES`). USDC's
atomic unit is the micro-USDC, so the returned integer is the balance in micro-USDC exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal

import httpx

from genesis_payments.core.errors import BalanceError, ConfigError
from genesis_payments.core.money import from_micro
from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.payments.wallets import FakeWallets

BALANCE_OF_SELECTOR = "0x70a08231"  # keccak256("balanceOf(address)")[:4]
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def wallet_balances(settings: Settings) -> dict[str, Decimal]:
    """Every agent's USDC balance: fake wallets in fake mode, the chain in live mode."""
    if settings.use_fake:
        path = settings.fake_wallets_path
        if path.is_file() and not path.read_bytes().strip():
            return {}  # an empty file holds no wallets; it is not a broken one
        return FakeWallets(path).balances()
    if settings.rpc_url is None or not settings.rpc_url.get_secret_value().strip():
        raise ConfigError("live balances need GENESIS_RPC_URL")
    if not settings.agent_addresses:
        raise ConfigError("live balances need GENESIS_AGENT_ADDRESSES (JSON object agent → address)")
    url = settings.rpc_url.get_secret_value()
    with httpx.Client(timeout=settings.http_timeout_seconds) as client:
        return {
            agent: from_micro(usdc_balance_micro(client, url, settings.usdc_contract, address))
            for agent, address in sorted(settings.agent_addresses.items())
        }


def balance_of_call(token: str, address: str) -> dict:
    """The `eth_call` JSON-RPC request for `token.balanceOf(address)` at the latest block."""
    if not _ADDRESS.match(address):
        raise ConfigError(f"{address!r} is not a 0x-prefixed 20-byte address")
    data = BALANCE_OF_SELECTOR + address[2:].lower().rjust(64, "0")
    return {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": token, "data": data}, "latest"]}


def usdc_balance_micro(client: httpx.Client, url: str, token: str, address: str) -> int:
    """One `balanceOf` through `eth_call`; errors name the address, never the RPC URL."""
    request = balance_of_call(token, address)
    try:
        response = client.post(url, json=request)
    except httpx.HTTPError as exc:
        raise BalanceError(f"balance of {address}: RPC request failed ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise BalanceError(f"balance of {address}: RPC answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise BalanceError(f"balance of {address}: RPC answer is not JSON") from None
    if not isinstance(body, dict) or "error" in body or not isinstance(body.get("result"), str):
        detail = body.get("error") if isinstance(body, dict) else body
        raise BalanceError(f"balance of {address}: RPC error {redact(str(detail))[:200]}")
    try:
        return int(body["result"], 16) if body["result"] not in ("0x", "") else 0
    except ValueError:
        raise BalanceError(f"balance of {address}: result {body['result'][:80]!r} is not hex") from None
