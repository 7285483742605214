"""Wallet balances: the fake wallets file, and USDC balanceOf over EVM JSON-RPC (eth_call)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.settings import Settings
from genesis_payments.payments.balances import BalanceError, balance_of_call, usdc_balance_micro, wallet_balances
from genesis_payments.payments.wallets import FakeWallets

ADDRESS = "0x" + "ab" * 20
TOKEN = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


def test_fake_mode_reads_the_fake_wallets(settings):
    FakeWallets(settings.fake_wallets_path).set_balances({"a": Decimal("12.5")})
    assert wallet_balances(settings) == {"a": Decimal("12.5")}


def test_fake_mode_with_missing_or_empty_wallets_file_has_no_wallets(settings):
    assert wallet_balances(settings) == {}
    settings.fake_wallets_path.parent.mkdir(parents=True)
    settings.fake_wallets_path.write_text("")
    assert wallet_balances(settings) == {}


def test_balance_of_call_encodes_the_address_after_the_selector():
    call = balance_of_call(TOKEN, ADDRESS)
    assert call["method"] == "eth_call"
    assert call["params"][0] == {"to": TOKEN, "data": "0x70a08231" + "0" * 24 + "ab" * 20}


def test_result_is_micro_usdc_exactly():
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["params"][0]["data"].endswith("ab" * 20)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": hex(49_999_999)})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        assert usdc_balance_micro(client, "http://rpc.invalid/key-123", TOKEN, ADDRESS) == 49_999_999


def test_rpc_errors_name_the_address_not_the_url():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "nope"}})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client, pytest.raises(BalanceError) as error:
        usdc_balance_micro(client, "http://rpc.invalid/key-123", TOKEN, ADDRESS)
    assert ADDRESS in str(error.value) and "key-123" not in str(error.value)


def test_live_mode_without_addresses_is_a_config_error():
    with pytest.raises(ConfigError, match="GENESIS_AGENT_ADDRESSES"):
        wallet_balances(Settings(use_fake=False, rpc_url="http://127.0.0.1:1"))


def test_live_mode_asks_a_json_rpc_node_for_each_agent(monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = []

    class Node(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            calls.append(body["params"][0])
            balance = 12_345_678 if body["params"][0]["data"].endswith("ab" * 20) else 0
            data = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": hex(balance)}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = Settings(use_fake=False, rpc_url=f"http://127.0.0.1:{server.server_address[1]}/v1/key",
                            agent_addresses={"a": ADDRESS, "b": "0x" + "cd" * 20})
        assert wallet_balances(settings) == {"a": Decimal("12.345678"), "b": Decimal(0)}
    finally:
        server.shutdown()
        server.server_close()
    assert [c["to"] for c in calls] == [TOKEN, TOKEN]
