"""A simulated EVM chain behind the x402 SDK's `FacilitatorEvmSigner` protocol.

Only the chain is simulated: the SDK's own exact-EVM facilitator runs its real verification on
top of it. The chain knows the USDC tokens of `USDC_TOKENS`, reads balances from the fake wallets
(`data/a2a-x402/fake/wallets.json`, payer address → agent by the deterministic fake keys), keeps
used EIP-3009 nonces, recovers signatures with eth-account, and on `transferWithAuthorization`
debits the payer's fake wallet. Its state (used nonces, receipts, pending settlements, settled
payment identifiers) lives in `data/a2a-x402/fake/chain.json`, changed only inside `session()`
under a file lock, so an in-process fake and a loopback one in another process agree.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak
from x402.mechanisms.evm.default_assets import get_default_asset
from x402.mechanisms.evm.eip712 import hash_eip3009_authorization
from x402.mechanisms.evm.types import ExactEIP3009Authorization, TransactionReceipt, TypedDataDomain, TypedDataField
from x402.mechanisms.evm.utils import get_evm_chain_id
from x402.mechanisms.evm.verify import verify_typed_data_strict

from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.money import from_micro, to_micro
from genesis_payments.core.settings import Settings
from genesis_payments.payments.fakes.fake_keys import address_book
from genesis_payments.payments.wallets import FakeWallets, InsufficientFunds

FAKE_NETWORKS = ("eip155:8453", "eip155:84532")
"""Base mainnet and Base Sepolia: the networks the fake facilitator settles."""


def usdc_token(network: str) -> dict[str, Any]:
    """USDC of a network from the SDK's default-asset table: address and EIP-712 domain name/version."""
    info = get_default_asset(network, "USDC")
    return {"asset": info["asset"], "name": info["name"], "version": info["version"], "decimals": info["decimals"]}


USDC_TOKENS: dict[str, dict[str, Any]] = {network: usdc_token(network) for network in FAKE_NETWORKS}

FACILITATOR_ACCOUNT = Account.from_key(keccak(b"genesis-payments/fake-facilitator"))
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
PENDING_TTL_SECONDS = 300


class ContractRevert(RuntimeError):
    """What a node reports for a reverted call; the SDK maps the message to an x402 reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"execution reverted: {reason}")


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


_SELECTORS = {
    _selector("balanceOf(address)"): "balanceOf",
    _selector("name()"): "name",
    _selector("version()"): "version",
    _selector("authorizationState(address,bytes32)"): "authorizationState",
}


class SimulatedChain:
    """Implements `x402.mechanisms.evm.signer.FacilitatorEvmSigner` over fake wallets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_path = settings.fake_wallets_path.with_name("chain.json")
        self.wallets = FakeWallets(settings.fake_wallets_path)
        self._tokens = {info["asset"].lower(): (network, info) for network, info in USDC_TOKENS.items()}
        self._thread_lock = threading.RLock()
        self._state: dict[str, Any] | None = None
        self._dirty = False
        self.pending_receipt_failures = 0
        self.pending_store = ChainPendingStore(self)

    # --- state -------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[dict[str, Any]]:
        """Hold the chain's lock with its state loaded; save it on the way out if it changed."""
        with self._thread_lock:
            if self._state is not None:  # re-entrant: already inside a session
                yield self._state
                return
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.state_path.with_name("chain.lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                raw = read_json_file(self.state_path, default={}) or {}
                self._state = {
                    "used_nonces": list(raw.get("used_nonces", [])),
                    "receipts": dict(raw.get("receipts", {})),
                    "pending": dict(raw.get("pending", {})),
                    "settled": dict(raw.get("settled", {})),
                    "block": int(raw.get("block", 1)),
                }
                self._dirty = False
                try:
                    yield self._state
                    if self._dirty:
                        write_json_atomic(self.state_path, _json_safe(self._state))
                finally:
                    self._state = None

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            raise RuntimeError("SimulatedChain used outside session()")
        return self._state

    def mark_dirty(self) -> None:
        self._dirty = True

    def _nonce_key(self, authorizer: str, nonce: bytes) -> str:
        return f"{authorizer.lower()}:{nonce.hex()}"

    def nonce_used(self, authorizer: str, nonce: bytes) -> bool:
        return self._nonce_key(authorizer, nonce) in set(self.state["used_nonces"])

    # --- FacilitatorEvmSigner ----------------------------------------------------------------

    def get_addresses(self) -> list[str]:
        return [FACILITATOR_ACCOUNT.address]

    def get_chain_id(self) -> int:
        return get_evm_chain_id(FAKE_NETWORKS[0])

    def get_code(self, address: str) -> bytes:
        # Token contracts have code; every payer is a plain EOA.
        return b"\x60\x80" if address.lower() in self._tokens else b""

    def get_balance(self, address: str, token_address: str) -> int:
        if token_address.lower() not in self._tokens:
            return 0
        agent = address_book(self.wallets.balances()).get(address.lower())
        return to_micro(self.wallets.balance(agent)) if agent else 0

    def verify_typed_data(
        self,
        address: str,
        domain: TypedDataDomain,
        types: dict[str, list[TypedDataField]],
        primary_type: str,
        message: dict[str, Any],
        signature: bytes,
    ) -> bool:
        return verify_typed_data_strict(self, address, domain, types, primary_type, message, signature)

    def read_contract(self, address: str, abi: list[dict[str, Any]], function_name: str, *args: Any) -> Any:
        if function_name == "tryAggregate":
            return self._try_aggregate(args[1])
        if function_name == "transferWithAuthorization":
            self._check_transfer(address, *args)  # eth_call: simulate, change nothing
            return None
        return self._view(address, function_name, *args)

    def write_contract(
        self, address: str, abi: list[dict[str, Any]], function_name: str, *args: Any, data_suffix: str | None = None
    ) -> str:
        if function_name != "transferWithAuthorization":
            raise ContractRevert(f"fake chain does not implement {function_name}")
        payer, to, value, _after, _before, nonce = self._check_transfer(address, *args)
        agent = address_book(self.wallets.balances()).get(payer.lower())
        if agent is None:
            raise ContractRevert("ERC20: transfer amount exceeds balance")
        try:
            self.wallets.debit(agent, from_micro(value))
        except InsufficientFunds:
            raise ContractRevert("ERC20: transfer amount exceeds balance") from None
        state = self.state
        state["used_nonces"].append(self._nonce_key(payer, nonce))
        state["block"] += 1
        tx_hash = "0x" + keccak(b"fake-tx" + payer.lower().encode() + nonce).hex()
        state["receipts"][tx_hash] = {
            "token": address,
            "from": payer,
            "to": to,
            "value": str(value),
            "block": state["block"],
        }
        self.mark_dirty()
        return tx_hash

    def send_transaction(self, to: str, data: bytes) -> str:
        raise ContractRevert("fake chain has no smart-wallet factories")

    def wait_for_transaction_receipt(self, tx_hash: str) -> TransactionReceipt:
        if self.pending_receipt_failures > 0:
            # A broadcast whose confirmation wait failed: the SDK answers settlement_pending.
            self.pending_receipt_failures -= 1
            raise TimeoutError(f"timed out waiting for receipt of {tx_hash}")
        receipt = self.state["receipts"].get(tx_hash)
        if receipt is None:
            raise TimeoutError(f"transaction {tx_hash} not found")
        log = {
            "address": receipt["token"],
            "topics": [TRANSFER_TOPIC, _address_topic(receipt["from"]), _address_topic(receipt["to"])],
            "data": "0x" + int(receipt["value"]).to_bytes(32, "big").hex(),
        }
        return TransactionReceipt(status=1, block_number=receipt["block"], tx_hash=tx_hash, logs=[log])

    # --- token logic -------------------------------------------------------------------------

    def _view(self, address: str, function_name: str, *args: Any) -> Any:
        token = self._tokens.get(address.lower())
        if token is None:
            raise ContractRevert(f"no contract at {address}")
        _network, info = token
        if function_name == "balanceOf":
            return self.get_balance(args[0], address)
        if function_name == "name":
            return info["name"]
        if function_name == "version":
            return info["version"]
        if function_name == "authorizationState":
            return self.nonce_used(args[0], bytes(args[1]))
        raise ContractRevert(f"fake token does not implement {function_name}")

    def _check_transfer(self, token_address: str, *args: Any) -> tuple[str, str, int, int, int, bytes]:
        """FiatToken's checks for `transferWithAuthorization(from,to,value,after,before,nonce,v,r,s)`."""
        token = self._tokens.get(token_address.lower())
        if token is None:
            raise ContractRevert(f"no contract at {token_address}")
        network, info = token
        if len(args) != 9:
            raise ContractRevert("fake token accepts only 65-byte EOA signatures")
        payer, to, value, valid_after, valid_before, nonce, v, r, s = args
        now = int(time.time())
        if now <= int(valid_after):
            raise ContractRevert("FiatTokenV2: authorization is not yet valid")
        if now >= int(valid_before):
            raise ContractRevert("FiatTokenV2: authorization is expired")
        nonce = bytes(nonce)
        if self.nonce_used(payer, nonce):
            raise ContractRevert("FiatTokenV2: authorization is used or canceled")
        authorization = ExactEIP3009Authorization(
            from_address=payer,
            to=to,
            value=str(value),
            valid_after=str(valid_after),
            valid_before=str(valid_before),
            nonce="0x" + nonce.hex(),
        )
        digest = hash_eip3009_authorization(
            authorization, get_evm_chain_id(network), info["asset"], info["name"], info["version"]
        )
        try:
            signer = Account._recover_hash(digest, vrs=(int(v), bytes(r), bytes(s)))
        except Exception:
            raise ContractRevert("FiatTokenV2: invalid signature") from None
        if signer.lower() != payer.lower():
            raise ContractRevert("FiatTokenV2: invalid signature")
        if self.get_balance(payer, token_address) < int(value):
            raise ContractRevert("ERC20: transfer amount exceeds balance")
        return payer, to, int(value), int(valid_after), int(valid_before), nonce

    def _try_aggregate(self, calls: list[tuple[str, bytes]]) -> list[tuple[bool, bytes]]:
        """Multicall3 `tryAggregate`, for the SDK's diagnosis of a failed simulation."""
        results: list[tuple[bool, bytes]] = []
        for target, call_data in calls:
            name = _SELECTORS.get(bytes(call_data[:4]))
            try:
                if name == "balanceOf":
                    (who,) = decode(["address"], call_data[4:])
                    results.append((True, encode(["uint256"], [self._view(target, name, who)])))
                elif name in ("name", "version"):
                    results.append((True, encode(["string"], [self._view(target, name)])))
                elif name == "authorizationState":
                    who, nonce = decode(["address", "bytes32"], call_data[4:])
                    results.append((True, encode(["bool"], [self._view(target, name, who, nonce)])))
                else:
                    results.append((False, b""))
            except ContractRevert:
                results.append((False, b""))
        return results


class ChainPendingStore:
    """The SDK's `PendingSettlementStore`, kept in the chain's state file so a retry in another
    process reconciles against the broadcast transaction instead of broadcasting again."""

    def __init__(self, chain: SimulatedChain) -> None:
        self.chain = chain

    def get(self, key: str) -> str | None:
        entry = self.chain.state["pending"].get(key)
        if entry is None or time.time() - float(entry["at"]) > PENDING_TTL_SECONDS:
            return None
        return str(entry["tx"])

    def set(self, key: str, tx_hash: str) -> None:
        self.chain.state["pending"][key] = {"tx": tx_hash, "at": str(Decimal(int(time.time())))}
        self.chain.mark_dirty()

    def delete(self, key: str) -> None:
        if self.chain.state["pending"].pop(key, None) is not None:
            self.chain.mark_dirty()


def _address_topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value
