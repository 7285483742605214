"""A real local chain for the tests: one anvil + USDC per session, fresh state per test by snapshots.

`local_chain` (function scope) takes an `evm_snapshot` before the test and reverts to it after,
and writes the test root's world file, so code under test that calls `ensure_local_chain(settings)`
finds this chain instead of starting its own. `facilitator` serves the SDK's facilitator on it
over loopback HTTP (a new one per test: `evm_revert` would leave an older signer's nonce ahead).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.core.money import from_micro
from genesis_payments.core.settings import Settings
from genesis_payments.payments.fakes.facilitator import FacilitatorServer, LocalFacilitator
from genesis_payments.payments.fakes.local_chain import LocalChain, start_anvil, update_world


@pytest.fixture(scope="session")
def session_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    root = tmp_path_factory.mktemp("chain-root")
    chain = start_anvil(Settings(root=root), state_file=None)
    try:
        yield chain
    finally:
        chain.stop()


@pytest.fixture
def local_chain(session_chain: LocalChain, genesis_root: Path) -> Iterator[LocalChain]:
    snapshot = session_chain.snapshot()
    settings = Settings(root=genesis_root)
    described = session_chain.describe()
    update_world(settings, "chain", described)
    try:
        yield session_chain
    finally:
        session_chain.set_automine(True)
        session_chain.revert(snapshot)


@pytest.fixture
def facilitator(local_chain: LocalChain) -> Iterator[FacilitatorServer]:
    server = FacilitatorServer(LocalFacilitator(local_chain.rpc_url, confirmation_timeout_seconds=1.0),
                               timeout_delay_seconds=1.5).start()
    try:
        yield server
    finally:
        server.stop()


def usdc_balance(settings: Settings, agent: str) -> Decimal:
    """The agent's fake wallet balance on the local chain the root's world file names."""
    from genesis_payments.payments.fakes.fake_keys import fake_address
    from genesis_payments.payments.fakes.local_chain import ensure_local_chain

    return from_micro(ensure_local_chain(settings).balance_micro(settings, fake_address(agent)))
