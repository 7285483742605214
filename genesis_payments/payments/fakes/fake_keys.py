"""Play-money wallets of fake mode: keys derived from the agent's name, funded by minting on the local chain.

In fake mode the key of agent `A` is `keccak256(b"genesis-payments/fake-wallet/" + A.encode("utf-8"))`
(a 32-byte secp256k1 key; the chance it is out of range is negligible). These keys guard play
money only and are public by construction; live mode signs with `GENESIS_WALLET_PRIVATE_KEY`.
Funding mints USDC on the local chain (§11) and writes the agent's address to the address book
`data/a2a-x402/fake/agents.json` (agent → address: public, no balances), which says whose balances
`monitor-alerts` and the exporter watch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.money import from_micro, parse_usd, to_micro
from genesis_payments.core.settings import Settings

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


def address_book_path(settings: Settings) -> Path:
    return settings.data_dir / "fake" / "agents.json"


def funded_agents(settings: Settings) -> dict[str, str]:
    """Agent → address of every agent whose fake wallet was funded under this root."""
    book = read_json_file(address_book_path(settings), default={})
    return {str(agent): str(address) for agent, address in book.items()} if isinstance(book, dict) else {}


def fund_fake_wallets(settings: Settings, amounts: Mapping[str, Decimal | str]) -> dict[str, Decimal]:
    """Mint `amounts` (USDC) to the agents' fake wallets on the local chain; return their balances."""
    from genesis_payments.payments.fakes.local_chain import ensure_local_chain

    chain = ensure_local_chain(settings)
    book = funded_agents(settings)
    for agent, amount in amounts.items():
        micro = to_micro(parse_usd(amount))
        if micro > 0:
            chain.mint(settings, fake_address(agent), micro)
        book[agent] = fake_address(agent)
    write_json_atomic(address_book_path(settings), dict(sorted(book.items())))
    return {agent: from_micro(chain.balance_micro(settings, fake_address(agent))) for agent in amounts}
