"""Signing keys of the fake wallets: derived from the agent's name, so every process agrees.

In fake mode the key of agent `A` is `keccak256(b"genesis-payments/fake-wallet/" + A.encode("utf-8"))`
(a 32-byte secp256k1 key; the chance it is out of range is negligible). These keys guard play
money only and are public by construction; live mode signs with `GENESIS_WALLET_PRIVATE_KEY`.
The fake chain maps a payer address back to its agent by deriving the address of every agent in
`data/a2a-x402/fake/wallets.json`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from genesis_payments.core.money import parse_usd
from genesis_payments.core.settings import Settings
from genesis_payments.payments.wallets import FakeWallets

KEY_PREFIX = b"genesis-payments/fake-wallet/"


@lru_cache(maxsize=1024)
def fake_account(agent: str) -> LocalAccount:
    """The deterministic fake-mode account of `agent`."""
    return Account.from_key(keccak(KEY_PREFIX + agent.encode("utf-8")))


def fake_address(agent: str) -> str:
    return fake_account(agent).address


def address_book(agents: Iterable[str]) -> dict[str, str]:
    """Lower-case address → agent, for the agents given."""
    return {fake_address(agent).lower(): agent for agent in agents}


def fund_fake_wallets(settings: Settings, balances: Mapping[str, Decimal | str]) -> dict[str, Decimal]:
    """Set the fake balances of the agents given (others unchanged); return every balance."""
    wallets = FakeWallets(settings.fake_wallets_path)
    wallets.set_balances({agent: parse_usd(amount) for agent, amount in balances.items()})
    return wallets.balances()
