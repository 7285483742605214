"""USDC (FiatToken, ERC-20 + EIP-3009) as web3 sees it: the few functions and events the project reads."""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.contract import Contract

# The ABI entries of FiatTokenV2_2 that are read here; web3 encodes and decodes from them.
USDC_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "balanceOf", "stateMutability": "view",
     "inputs": [{"name": "account", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
    {"type": "function", "name": "authorizationState", "stateMutability": "view",
     "inputs": [{"name": "authorizer", "type": "address"}, {"name": "nonce", "type": "bytes32"}],
     "outputs": [{"name": "", "type": "bool"}]},
    {"type": "event", "name": "Transfer", "anonymous": False,
     "inputs": [{"name": "from", "type": "address", "indexed": True},
                {"name": "to", "type": "address", "indexed": True},
                {"name": "value", "type": "uint256", "indexed": False}]},
    {"type": "event", "name": "AuthorizationUsed", "anonymous": False,
     "inputs": [{"name": "authorizer", "type": "address", "indexed": True},
                {"name": "nonce", "type": "bytes32", "indexed": True}]},
]


def usdc_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=USDC_ABI)


def topic_of(event: str) -> str:
    """The event's signature topic (keccak of its canonical signature), 0x-hex."""
    signature = {"Transfer": "Transfer(address,address,uint256)",
                 "AuthorizationUsed": "AuthorizationUsed(address,bytes32)"}[event]
    return "0x" + Web3.keccak(text=signature).hex().removeprefix("0x")


def address_topic(address: str) -> str:
    """An indexed address as a log topic: left-padded to 32 bytes."""
    return "0x" + "0" * 24 + Web3.to_checksum_address(address)[2:].lower()
