"""`serve`'s fake world: chain → facilitator → sellers started in order, found by other users, stopped."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from deployments.fake_world import start_fake_world
from genesis_payments.payments.fakes.fake_keys import fake_address, fund_fake_wallets
from genesis_payments.payments.fakes.local_chain import ensure_local_chain, read_world, set_aside_state, state_path
from genesis_payments.payments.fakes.local_world import local_world
from genesis_payments.payments.fakes.sellers import seller_registry


@pytest.mark.slow
def test_the_world_starts_in_order_is_found_and_outlives_nothing_but_its_chain_state(settings, capfd):
    said = []
    world = start_fake_world(settings, said.append)
    try:
        world_file = read_world(settings)
        assert world_file["chain"]["rpc_url"] == world.chain.rpc_url and world.chain.owned
        assert world_file["facilitator"]["url"] == world.facilitator.url
        assert httpx.get(world.facilitator.url + "/supported").json()["extensions"] == ["payment-identifier"]
        assert seller_registry(settings.fake_sellers_path) == world.seller_urls and world.seller_urls
        assert said[0].startswith("fake facilitator") and said[1].startswith("fake sellers: ")
        # Another user of the root finds this chain and these sellers instead of starting its own.
        found = ensure_local_chain(settings)
        assert (found.rpc_url, found.owned) == (world.chain.rpc_url, False)
        assert "local chain: using the one running at" in capfd.readouterr().err
        with local_world(settings) as reused:
            assert reused.fleet is None and reused.urls == world.seller_urls
        fund_fake_wallets(settings, {"agent-a": Decimal("5")})
    finally:
        world.stop()
    assert world.chain.process.poll() is not None
    assert "chain" not in read_world(settings) and "facilitator" not in read_world(settings)
    assert not settings.fake_sellers_path.exists() and state_path(settings).exists()
    again = ensure_local_chain(settings, stop_at_exit=False)  # a later command: the same chain, from its state
    try:
        assert again.balance_micro(settings, fake_address("agent-a")) == 5_000_000
        assert set_aside_state(settings) is None  # never the state of a chain that is running on it
    finally:
        again.stop()
    kept = set_aside_state(settings)  # a demo into empty ledgers (serve): the next chain starts from genesis
    assert kept is not None and kept.exists() and not state_path(settings).exists()
    fresh = ensure_local_chain(settings, stop_at_exit=False)
    try:
        assert fresh.balance_micro(settings, fake_address("agent-a")) == 0
    finally:
        fresh.stop()


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["SIGTERM", "SIGKILL"])
def test_a_process_ended_by_a_signal_stops_the_chain_it_started(settings, ending):
    """SIGTERM runs the stop hook; SIGKILL runs nothing, and the lifeline pipe closing stops anvil."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys, time\n"
            "from genesis_payments.core.settings import Settings\n"
            "from genesis_payments.payments.fakes.local_chain import ensure_local_chain\n"
            "chain = ensure_local_chain(Settings())\n"
            "print(chain.pid, chain.rpc_url, flush=True)\n"
            "time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    pid, rpc_url = process.stdout.readline().split()
    signum = getattr(signal, ending)
    process.send_signal(signum)
    assert process.wait(timeout=20) == -signum
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _answers(rpc_url):
        time.sleep(0.1)
    if _answers(rpc_url):
        os.killpg(int(pid), signal.SIGKILL)
        raise AssertionError("the chain outlived the process that started it")
    assert state_path(settings).exists()


def _answers(rpc_url: str) -> bool:
    try:
        httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
    except httpx.HTTPError:
        return False
    return True
