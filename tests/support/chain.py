"""A real local chain for the tests: one anvil + USDC per session, fresh state per test by snapshots.

`local_chain` (function scope) takes an `evm_snapshot` before the test and reverts to it after,
and writes the test root's world file, so code under test that calls `ensure_local_chain(settings)`
finds this chain instead of starting its own. `facilitator` serves the SDK's facilitator on it
over loopback HTTP (a new one per test: `evm_revert` would leave an older signer's nonce ahead).
"""

from __future__ import annotations

import atexit
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from genesis_payments.core.money import from_micro
from genesis_payments.core.settings import Settings
from genesis_payments.payments.fakes.facilitator import FacilitatorServer, LocalFacilitator
from genesis_payments.payments.fakes.local_chain import LocalChain, start_anvil, update_world

_session: LocalChain | None = None


def session_chain_instance() -> LocalChain:
    """The test session's one anvil (in memory), started on first use and stopped when pytest exits."""
    global _session
    if _session is None or not _session.alive():
        root = Path(tempfile.mkdtemp(prefix="genesis-test-chain-"))
        _session = start_anvil(Settings(root=root), state_file=None)
        atexit.register(_session.stop)
    return _session


@contextmanager
def chain_for(settings: Settings) -> Iterator[LocalChain]:
    """The session chain for one test root: its world file names it; its state is reverted after."""
    chain = session_chain_instance()
    snapshot = chain.snapshot()
    update_world(settings, "chain", chain.describe())
    try:
        yield chain
    finally:
        chain.set_automine(True)
        chain.revert(snapshot)


@pytest.fixture(scope="session")
def session_chain() -> LocalChain:
    return session_chain_instance()


@pytest.fixture
def local_chain(session_chain: LocalChain, genesis_root: Path) -> Iterator[LocalChain]:
    with chain_for(Settings(root=genesis_root)) as chain:
        yield chain


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
