"""Wallet balances: USDC `balanceOf` over JSON-RPC on a real chain, one code path in both modes."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings
from genesis_payments.payments.balances import BalanceError, wallet_balances
from genesis_payments.payments.fakes.fake_keys import fake_address, fund_fake_wallets
from genesis_payments.payments.fakes.local_chain import world_path


def test_fake_mode_with_no_funded_wallet_has_no_balances_and_starts_no_chain(settings):
    assert wallet_balances(settings) == {}
    assert not world_path(settings).exists()


def test_fake_mode_reads_balance_of_for_every_funded_agent(settings, local_chain):
    fund_fake_wallets(settings, {"a": Decimal("12.5"), "b": "0"})
    fund_fake_wallets(settings, {"a": "0.000001"})  # minting adds
    assert wallet_balances(settings) == {"a": Decimal("12.500001"), "b": Decimal(0)}
    assert local_chain.balance_micro(settings, fake_address("a")) == 12_500_001


def test_live_mode_reads_the_same_way_from_its_rpc(genesis_root, local_chain):
    fund_fake_wallets(Settings(), {"a": Decimal("3.25")})
    live = Settings(use_fake=False, rpc_url=local_chain.rpc_url, usdc_contract=local_chain.usdc,
                    agent_addresses={"a": fake_address("a"), "z": "0x" + "cd" * 20})
    assert wallet_balances(live) == {"a": Decimal("3.25"), "z": Decimal(0)}


def test_live_mode_without_rpc_or_addresses_is_a_config_error():
    with pytest.raises(ConfigError, match="GENESIS_RPC_URL"):
        wallet_balances(Settings(use_fake=False, agent_addresses={"a": "0x" + "ab" * 20}))
    with pytest.raises(ConfigError, match="GENESIS_AGENT_ADDRESSES"):
        wallet_balances(Settings(use_fake=False, rpc_url="http://127.0.0.1:1"))


def test_a_bad_address_is_a_config_error(local_chain):
    live = Settings(use_fake=False, rpc_url=local_chain.rpc_url, usdc_contract=local_chain.usdc,
                    agent_addresses={"a": "0x1234"})
    with pytest.raises(ConfigError, match="0x1234"):
        wallet_balances(live)


def test_rpc_down_fails_naming_the_address_and_the_redacted_rpc():
    live = Settings(use_fake=False, rpc_url="http://user:secret-pass@127.0.0.1:1/v2/key-123456789abcdef",
                    agent_addresses={"a": "0x" + "ab" * 20}, http_timeout_seconds=1)
    with pytest.raises(BalanceError) as error:
        wallet_balances(live)
    text = str(error.value)
    assert "0x" + "ab" * 20 in text and "127.0.0.1:1" in text and "after 3 attempts" in text
    assert "secret-pass" not in text and "key-123456789abcdef" not in text


@pytest.fixture
def garbage_rpc():
    """A loopback "node" answering every JSON-RPC call with something that is not an answer."""

    class Node(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            data = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0xnot-hex"}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rpc_answering_garbage_is_a_balance_error(garbage_rpc):
    live = Settings(use_fake=False, rpc_url=garbage_rpc, agent_addresses={"a": "0x" + "ab" * 20})
    with pytest.raises(BalanceError, match="balance of 0x"):
        wallet_balances(live)
