"""Ledger-sync against a real chain (§5, §11): anvil + Circle's USDC + the SDK's facilitator, buyer and seller.

Payments are settled for real (the SDK's `x402HttpxClient` buying from the SDK's FastAPI seller
middleware through this project's facilitator); problems are planted on the chain itself (a
transfer behind the project's back, a reverted transaction, a payment line pointing at another
transfer, …) and each must be found with the right ids and amounts, and nothing else.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from functools import partial

import pytest
from eth_account import Account
from x402 import x402Client
from x402.http.clients.httpx import x402HttpxClient
from x402.http.utils import decode_payment_response_header
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.exact import ExactEvmClientScheme

from genesis_payments.chain.authorizations import authorization_tx, authorization_used
from genesis_payments.chain.rpc import ChainRpcError, connect
from genesis_payments.chain.scan import load_checkpoint, scan_chain
from genesis_payments.core.settings import Settings
from genesis_payments.jobs.chain_reconciliation import ledger_payments, reconcile_chain, wallets_to_read
from genesis_payments.payments.balances import payer_address, watched_addresses
from genesis_payments.payments.chain_endpoint import RpcChainView, settlement_tx
from genesis_payments.payments.fakes.fake_keys import fake_account, fake_address, fund_fake_wallets
from genesis_payments.payments.fakes.sellers import SellerSpec, start_sellers
from tasks.chain import chain_checkpoint_path, read_chain_logs, read_payment_states, read_receipt_statuses
from tests.support.ledgers import entry, event, write_lines

AGENT = "media-agent"
PRICE = Decimal("0.0046")
NETWORK = "eip155:84532"


@pytest.fixture
def shop(settings, local_chain, facilitator):
    """One SDK seller on loopback backed by the facilitator, and a funded agent wallet."""
    fund_fake_wallets(settings, {AGENT: Decimal("10")})
    pay_to = Account.create().address
    fleet = start_sellers(facilitator.url, [SellerSpec(vendor="media:images", pricing={"img": PRICE}, pay_to=pay_to)])
    try:
        yield fleet.urls["media:images"], pay_to
    finally:
        fleet.stop()


def buy(url: str, agent: str = AGENT) -> dict:
    """One purchase by the SDK's own buyer; what the ledger would record of it."""
    created = {}
    client = x402Client()
    client.register("eip155:*", ExactEvmClientScheme(EthAccountSigner(fake_account(agent))))
    client.on_after_payment_creation(lambda ctx: created.setdefault("payload", ctx.payment_payload))

    async def get() -> tuple[int, str | None]:
        async with x402HttpxClient(client) as http:
            response = await http.get(url)
            return response.status_code, response.headers.get("payment-response")

    status, header = asyncio.run(get())
    assert status == 200 and header
    settled = decode_payment_response_header(header)
    authorization = created["payload"].payload["authorization"]
    return {"tx_hash": settled.transaction, "payer": authorization["from"], "pay_to": authorization["to"],
            "nonce": authorization["nonce"], "amount": str(Decimal(authorization["value"]) / 1_000_000)}


def captured(payment_id: str, paid: dict, minute: int, **override) -> list[dict]:
    """The authorized + captured events of a payment, as the buyer records them."""
    fields = {"tx_hash": paid["tx_hash"], "payer": paid["payer"], "pay_to": paid["pay_to"], "nonce": paid["nonce"],
              "chain": NETWORK, **override}
    amount = fields.pop("amount", paid["amount"])
    ts = f"2026-11-26T03:{minute:02d}:00.000000+00:00"
    return [event(payment_id, "authorized", ts, amount, agent=AGENT, **{k: v for k, v in fields.items()
                                                                         if k != "tx_hash"}),
            event(payment_id, "captured", ts, amount, agent=AGENT, **fields)]


def chain_findings(settings: Settings) -> list[dict]:
    """The chain part of ledger-sync, as the flow runs it (its tasks' own functions)."""
    payments = ledger_payments(read_payment_states.fn(settings), payer_of=partial(payer_address, settings))
    scan = read_chain_logs.fn(settings, wallets_to_read(payments, watched_addresses(settings)))
    receipts = read_receipt_statuses.fn(settings, [p.tx_hash for p in payments if p.tx_hash])
    return reconcile_chain(payments, scan.transfers, scan.uses, receipts)


def send_behind_the_back(chain, settings, agent: str, to: str, micro: int) -> str:
    """A USDC transfer out of the agent's wallet that no payment recorded."""
    return chain.transfer_as(settings, fake_address(agent), to, micro)


def test_a_purchase_through_the_sdk_leaves_a_receipt_ledger_sync_matches(settings, shop, local_chain):
    url, pay_to = shop
    paid = buy(url + "/img")
    assert paid["pay_to"].lower() == pay_to.lower() and paid["amount"] == "0.0046"
    receipt = local_chain.w3.eth.get_transaction_receipt(paid["tx_hash"])
    assert receipt["status"] == 1
    write_lines(settings.transactions_path, captured("pay-ok", paid, 1))
    assert chain_findings(settings) == []
    w3 = connect(local_chain.rpc_url)
    assert authorization_used(w3, local_chain.usdc, paid["payer"], paid["nonce"]) is True
    assert authorization_tx(w3, local_chain.usdc, paid["payer"], paid["nonce"]) == paid["tx_hash"]
    assert authorization_used(w3, local_chain.usdc, paid["payer"], "0x" + "11" * 32) is False
    assert authorization_tx(w3, local_chain.usdc, paid["payer"], "0x" + "11" * 32) is None
    assert settlement_tx(settings, paid["payer"], paid["nonce"]) == paid["tx_hash"]
    assert settlement_tx(settings, paid["payer"], "0x" + "11" * 32) is None
    view = RpcChainView(settings)  # what PaymentManager(chain=...) asks to resolve a pending payment
    assert view.settlement_of(NETWORK, local_chain.usdc, paid["payer"], paid["nonce"]) == paid["tx_hash"]
    assert view.settlement_of(NETWORK, local_chain.usdc, paid["payer"], "0x" + "11" * 32) is None


def test_each_planted_chain_problem_is_found_exactly(settings, shop, local_chain):
    url, pay_to = shop
    ok, short, elsewhere, pointed = (buy(url + "/img") for _ in range(4))
    mint_tx = local_chain.mint(settings, fake_address("other-agent"), 1)
    stranger = Account.create().address
    sneaky = send_behind_the_back(local_chain, settings, AGENT, stranger, 1_250_000)
    write_lines(settings.transactions_path, [
        *captured("p-ok", ok, 1),
        *captured("p-amount", short, 2, amount="0.005"),                      # ledger says more than moved
        *captured("p-payee", elsewhere, 3, pay_to=Account.create().address),  # recorded payTo is not where it went
        *captured("p-points", pointed, 4, tx_hash=ok["tx_hash"]),             # hash of another payment's transfer
        *captured("p-mint", ok, 5, tx_hash=mint_tx, nonce="0x" + "22" * 32),  # a tx holding no transfer of ours
        *captured("p-nohex", ok, 6, tx_hash="0xnot-a-hash", nonce="0x" + "33" * 32),
        *captured("p-ghost", ok, 7, tx_hash="0x" + "ab" * 32, nonce="0x" + "44" * 32),
    ])
    findings = chain_findings(settings)
    by_kind = {}
    for finding in findings:
        by_kind.setdefault(finding["kind"], []).append(finding)
    assert by_kind["chain_amount_mismatch"] == [{
        "kind": "chain_amount_mismatch", "payment_id": "p-amount", "tx_hash": short["tx_hash"],
        "transaction_amount_usd": "0.005000", "chain_amount_usd": "0.004600"}]
    missing = {f["payment_id"]: (f["tx_hash"], f["reason"]) for f in by_kind["chain_missing"]}
    assert set(missing) == {"p-payee", "p-points", "p-mint", "p-nohex", "p-ghost"}
    assert missing["p-payee"][1].startswith(f"the USDC went to {pay_to.lower()}")
    assert missing["p-points"] == (ok["tx_hash"], "the transaction did not use the payment's authorization "
                                                  "(payer, nonce)")
    assert missing["p-mint"][1] == "the transaction holds no USDC Transfer from the payer"
    assert missing["p-nohex"] == ("0xnot-a-hash", "the recorded tx_hash is not a 32-byte hex hash")
    assert missing["p-ghost"][1] == "the transaction is not on chain"
    unrecorded = {f["tx_hash"]: f for f in by_kind["unrecorded_transfer"]}
    payer = fake_address(AGENT).lower()
    assert unrecorded == {
        sneaky: {"kind": "unrecorded_transfer", "tx_hash": sneaky, "payer": payer, "pay_to": stranger.lower(),
                 "chain_amount_usd": "1.250000"},
        elsewhere["tx_hash"]: {"kind": "unrecorded_transfer", "tx_hash": elsewhere["tx_hash"], "payer": payer,
                               "pay_to": pay_to.lower(), "chain_amount_usd": "0.004600"},
        pointed["tx_hash"]: {"kind": "unrecorded_transfer", "tx_hash": pointed["tx_hash"], "payer": payer,
                             "pay_to": pay_to.lower(), "chain_amount_usd": "0.004600"},
    }
    assert len(findings) == 1 + 5 + 3


def test_a_reverted_settlement_is_chain_missing(settings, shop, local_chain):
    url, _pay_to = shop
    paid = buy(url + "/img")
    token = local_chain.token(settings)
    # transferWithAuthorization again with the used nonce: mined, and reverted by the token.
    w3 = local_chain.w3
    receipt_of_paid = w3.eth.get_transaction(paid["tx_hash"])
    tx = w3.eth.send_transaction({"from": local_chain.admin, "to": token.address, "data": receipt_of_paid["input"],
                                  "gas": 200_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
    reverted = "0x" + bytes(tx).hex()
    write_lines(settings.transactions_path, captured("p-reverted", paid, 1, tx_hash=reverted))
    findings = chain_findings(settings)
    assert {f["kind"]: f for f in findings}["chain_missing"] == {
        "kind": "chain_missing", "payment_id": "p-reverted", "tx_hash": reverted, "reason": "the transaction reverted"}
    # The real settlement is now a transfer no captured payment claims.
    assert [(f["kind"], f["tx_hash"]) for f in findings if f["kind"] != "chain_missing"] == [
        ("unrecorded_transfer", paid["tx_hash"])]


def test_an_open_payment_whose_authorization_was_used_is_named_on_its_unrecorded_transfer(settings, shop):
    url, _pay_to = shop
    paid = buy(url + "/img")
    lines = captured("p-pending", paid, 1)
    lines[1]["status"] = "settlement_pending"
    write_lines(settings.transactions_path, lines)
    assert chain_findings(settings) == [{
        "kind": "unrecorded_transfer", "tx_hash": paid["tx_hash"], "payer": paid["payer"].lower(),
        "pay_to": paid["pay_to"].lower(), "chain_amount_usd": "0.004600", "payment_id": "p-pending"}]


def test_blocks_are_read_incrementally_from_the_checkpoint(settings, shop, local_chain):
    url, _pay_to = shop
    first = buy(url + "/img")
    write_lines(settings.transactions_path, captured("p1", first, 1))
    w3 = connect(local_chain.rpc_url)
    wallets = [fake_address(AGENT)]
    full = scan_chain(w3, local_chain.usdc, wallets, None)
    assert full.rescanned == "no checkpoint" and len(full.transfers) == 1
    second = buy(url + "/img")
    again = scan_chain(w3, local_chain.usdc, wallets, full.checkpoint)
    assert again.rescanned is None
    assert again.blocks_read == local_chain.w3.eth.block_number - full.checkpoint.block_number
    assert [t.tx_hash for t in again.transfers] == [first["tx_hash"], second["tx_hash"]]
    assert again.checkpoint.transfers == scan_chain(w3, local_chain.usdc, wallets, None).checkpoint.transfers


def test_a_chain_reorganised_under_the_checkpoint_is_noticed_and_rescanned(settings, shop, local_chain):
    url, _pay_to = shop
    kept = buy(url + "/img")
    before = local_chain.snapshot()
    dropped = buy(url + "/img")
    w3 = connect(local_chain.rpc_url)
    wallets = [fake_address(AGENT)]
    seen = scan_chain(w3, local_chain.usdc, wallets, None)
    assert {t.tx_hash for t in seen.transfers} == {kept["tx_hash"], dropped["tx_hash"]}
    local_chain.revert(before)  # the block holding `dropped` is gone, as in a reorg
    local_chain.mine(3)  # and the chain grows past the checkpoint's height again, on another branch
    after = scan_chain(w3, local_chain.usdc, wallets, seen.checkpoint)
    assert after.rescanned == f"the chain changed under the checkpoint (block {seen.checkpoint.block_number})"
    assert [t.tx_hash for t in after.transfers] == [kept["tx_hash"]]


def test_the_flow_saves_its_checkpoint_and_finds_the_same_on_the_next_run(settings, shop, local_chain, flow_env):
    from flows.ledger_sync import ledger_sync

    url, _pay_to = shop
    paid = buy(url + "/img")
    sneaky = send_behind_the_back(local_chain, settings, AGENT, Account.create().address, 7)
    write_lines(settings.transactions_path, captured("p1", paid, 1))
    write_lines(settings.finance_ledger_path, [entry("p1", "0.0046", agent=AGENT)])
    first = ledger_sync()
    assert [(f["kind"], f.get("tx_hash")) for f in first["findings"]] == [("unrecorded_transfer", sneaky)]
    assert first["counts"]["unrecorded_transfer"] == 1 and first["checked"]["chain_rescanned"] == "no checkpoint"
    assert load_checkpoint(chain_checkpoint_path(settings)).block_number == local_chain.w3.eth.block_number
    second = ledger_sync()
    assert second["findings"] == first["findings"] and "chain_rescanned" not in second["checked"]
    assert second["checked"]["chain_blocks_read"] == 0


def test_rpc_down_fails_naming_the_rpc_and_invents_no_finding(genesis_root):
    live = Settings(use_fake=False, rpc_url="http://127.0.0.1:1/v2/secret-api-key", http_timeout_seconds=1)
    with pytest.raises(ChainRpcError) as error:
        read_chain_logs.fn(live, ["0x" + "ab" * 20])
    assert "RPC http://127.0.0.1:1 failed after 3 attempts" in str(error.value)
    assert "secret-api-key" not in str(error.value)
    assert not chain_checkpoint_path(live).exists()


@pytest.mark.slow
def test_ledger_sync_run_fails_when_the_rpc_answers_garbage(flow_env, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prefect.exceptions import FailedRun  # noqa: F401  (the run's failure surfaces as the raised error)

    from flows.ledger_sync import ledger_sync

    class Garbage(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            body = b"<html>502 bad gateway</html>"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings()
        monkeypatch.setenv("GENESIS_AGENT_ADDRESSES", '{"a": "0x' + "ab" * 20 + '"}')
        # Fake mode, but the world file names a "chain" whose RPC answers garbage.
        from genesis_payments.payments.fakes import local_chain as lc

        monkeypatch.setattr(lc, "find_local_chain", lambda s: lc.LocalChain(
            rpc_url=f"http://127.0.0.1:{server.server_address[1]}", usdc="0x" + "cd" * 20, admin="0x" + "00" * 20))
        write_lines(settings.transactions_path, [event("p1", "authorized", "2026-11-26T03:00:00.000000+00:00"),
                                                 event("p1", "captured", "2026-11-26T03:01:00.000000+00:00",
                                                       tx_hash="0x" + "ef" * 32)])
        with pytest.raises(ChainRpcError, match=rf"RPC http://127.0.0.1:{server.server_address[1]} failed"):
            ledger_sync()
        assert not (settings.reports_dir / "ledger-sync").exists() or not any(
            (settings.reports_dir / "ledger-sync").iterdir())
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_demo_root_reports_exactly_its_planted_problems_against_the_chain(settings, local_chain, flow_env):
    from flows.ledger_sync import ledger_sync
    from genesis_payments.demo import run_demo

    demo = run_demo(settings, days=3)
    planted = [line for line in demo.planted if line.startswith("ledger-sync")]
    assert len(planted) == 2  # missing_in_ledger and amount_mismatch: the ledger side's plants
    stranger = Account.create().address
    sneaky = send_behind_the_back(local_chain, settings, "research-agent", stranger, 3_000_000)
    result = ledger_sync()
    assert {kind: n for kind, n in result["counts"].items() if n} == {
        "missing_in_ledger": 1, "amount_mismatch": 1, "unrecorded_transfer": 1}
    assert [f for f in result["findings"] if f["kind"] == "unrecorded_transfer"] == [{
        "kind": "unrecorded_transfer", "tx_hash": sneaky, "payer": fake_address("research-agent").lower(),
        "pay_to": stranger.lower(), "chain_amount_usd": "3.000000"}]
    assert result["checked"]["chain_blocks_read"] > 0


def test_a_log_range_the_node_refuses_is_halved_until_it_answers(settings, shop, local_chain, monkeypatch):
    from genesis_payments.chain.logs import payer_logs

    url, _pay_to = shop
    paid = [buy(url + "/img") for _ in range(3)]
    local_chain.mine(5)
    w3 = connect(local_chain.rpc_url)
    head = w3.eth.block_number
    whole = payer_logs(w3, local_chain.usdc, [fake_address(AGENT)], 0, head, block_range=10_000)
    real_get_logs = w3.eth.get_logs
    asked = []

    def refusing(query):  # like a hosted node: "query returned more than N results / block range too large"
        asked.append((query["fromBlock"], query["toBlock"]))
        if query["toBlock"] - query["fromBlock"] >= 2:
            raise ValueError("block range too large")
        return real_get_logs(query)

    monkeypatch.setattr(w3.eth, "get_logs", refusing)
    monkeypatch.setattr("genesis_payments.chain.rpc.DEFAULT_BACKOFF_SECONDS", 0.0)
    split = payer_logs(w3, local_chain.usdc, [fake_address(AGENT)], 0, head, block_range=10_000)
    assert split == whole and [t.tx_hash for t in split[0]] == [p["tx_hash"] for p in paid]
    refused = [(first, last) for first, last in asked if last - first >= 2]
    assert refused[0] == (0, head) and all(last - first < 2 for first, last in asked[-2:])
