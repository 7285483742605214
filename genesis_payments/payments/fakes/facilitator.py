"""Fake mode's facilitator: the x402 SDK's own facilitator on the local chain, served on loopback.

`x402FacilitatorSync` + `ExactEvmFacilitatorScheme` + `FacilitatorWeb3Signer` (anvil's dev account 1,
which anvil funds with ETH for gas) against the local chain's RPC. The SDK has no HTTP app for a
facilitator; this module serves `GET /supported`, `POST /verify`, `POST /settle` (v2 bodies,
spec-shaped `VerifyResponse`/`SettleResponse` answers, a bad `/settle` gets a settle-shaped body)
and honours the `payment-identifier` extension, listed in `/supported`, as its spec says: a new id
is processed; the same id with the same payload gets the cached settlement; the same id with another
payload is **409 Conflict** (with a settle- or verify-shaped body naming `payment_identifier_conflict`).

A thin fault layer (`fail_next`, or `POST /_fake/fail {call, kind, times}`) makes calls fail:

| kind | effect |
|---|---|
| `timeout` | the call times out before the facilitator does anything |
| `timeout_after` | the call is processed (a settle moves money), then the answer is lost to a timeout |
| `5xx` | HTTP 503, nothing processed |
| `refuse` (or `insufficient_funds`) | verify/settle answer the x402 reason `insufficient_funds`, nothing processed |
| `settlement_pending` | settle broadcasts with anvil's mining stopped: after the confirmation timeout the SDK |
| | answers `settlement_pending` with the tx hash; `mine_pending()` (`POST /_fake/mine`) mines it later |

Run it as its own process: `python -m genesis_payments.payments.fakes.facilitator --rpc URL --port P`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pydantic import ValidationError
from web3 import Web3
from x402 import x402FacilitatorSync
from x402.extensions.payment_identifier import PAYMENT_IDENTIFIER, extract_payment_identifier
from x402.interfaces import FacilitatorExtension
from x402.mechanisms.evm import FacilitatorWeb3Signer
from x402.mechanisms.evm.exact import ExactEvmFacilitatorScheme
from x402.mechanisms.evm.exact.v1.facilitator import ExactEvmSchemeV1
from x402.pending_settlement_store import InMemoryPendingSettlementStore
from x402.schemas import PaymentPayload, PaymentRequirements, SchemeNotFoundError
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequirementsV1

from genesis_payments.core.redaction import redact
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.jsonl import canonical_json
from genesis_payments.payments.fakes.local_chain import FACILITATOR_ACCOUNT, NETWORK, dev_key
from genesis_payments.payments.fakes.sellers import V1_NETWORK_NAME as V1_NETWORK

log = logging.getLogger(__name__)

FAILURE_KINDS = ("timeout", "timeout_after", "5xx", "refuse", "insufficient_funds", "settlement_pending")
REFUSALS = ("refuse", "insufficient_funds")  # two names for one fault: the reason it answers is the second
CALLS = ("supported", "verify", "settle")
CONFLICT = "payment_identifier_conflict"
# Below the SDK seller's own wait, so a stopped chain reaches the buyer as settlement_pending.
DEFAULT_CONFIRMATION_TIMEOUT_SECONDS = 2.0


class InjectedTimeout(Exception):
    """Raised where a real facilitator would never answer in time."""

    def __init__(self, processed: bool) -> None:
        super().__init__("injected timeout")
        self.processed = processed


class LocalFacilitator:
    """The SDK's facilitator on one RPC, with payment-identifier idempotency and injected faults."""

    def __init__(self, rpc_url: str, *, private_key: str | None = None,
                 confirmation_timeout_seconds: float = DEFAULT_CONFIRMATION_TIMEOUT_SECONDS) -> None:
        self.rpc_url = rpc_url
        self.private_key = private_key or dev_key(FACILITATOR_ACCOUNT)
        self.confirmation_timeout_seconds = confirmation_timeout_seconds
        self._lock = threading.Lock()
        self._settle_lock = threading.Lock()
        self._failures: dict[str, deque[str]] = {call: deque() for call in CALLS}
        self.calls: dict[str, int] = dict.fromkeys(CALLS, 0)
        self._w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
        self.reset()

    def reset(self) -> None:
        """A fresh SDK facilitator: forgets ids, pending settlements and the signer's nonce (after evm_revert)."""
        self.signer = FacilitatorWeb3Signer(self.private_key, self.rpc_url,
                                            confirmation_timeout_seconds=self.confirmation_timeout_seconds)
        self.sdk = x402FacilitatorSync()
        scheme = ExactEvmFacilitatorScheme(self.signer, pending_store=InMemoryPendingSettlementStore())
        self.sdk.register([NETWORK], scheme)
        # v1 sellers (JSON 402 bodies, legacy network names) settle here too.
        self.sdk.register_v1([V1_NETWORK], ExactEvmSchemeV1(self.signer))
        self.sdk.register_extension(FacilitatorExtension(key=PAYMENT_IDENTIFIER))
        self._ids: dict[str, str] = {}  # payment id → fingerprint of the first payload seen
        self._settled: dict[str, dict[str, Any]] = {}  # payment id → its successful SettleResponse
        with self._lock:
            for queue in self._failures.values():
                queue.clear()

    @property
    def address(self) -> str:
        return self.signer.address

    def fail_next(self, call: str, kind: str, times: int = 1) -> None:
        """Make the next `times` calls of `call` fail with `kind` (see the module's table)."""
        if call not in CALLS or kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure {call!r}/{kind!r}; calls {CALLS}, kinds {FAILURE_KINDS}")
        if kind == "settlement_pending" and call != "settle":
            raise ValueError("settlement_pending applies to settle only")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures[call].extend([kind] * times)

    def mine_pending(self) -> None:
        """Mine what a `settlement_pending` fault left in the pool and let anvil mine on its own again."""
        self._w3.manager.request_blocking("evm_mine", [])
        self._w3.manager.request_blocking("evm_setAutomine", [True])

    def _next_failure(self, call: str) -> str | None:
        with self._lock:
            self.calls[call] += 1
            return self._failures[call].popleft() if self._failures[call] else None

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """One HTTP request → (status, JSON body). Raises InjectedTimeout for an injected timeout."""
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/supported":
            return self._with_failure("supported", lambda _kind: (200, _dump(self.sdk.get_supported())))
        if method == "POST" and path == "/verify":
            return self._with_failure("verify", lambda kind: self._verify(body, kind))
        if method == "POST" and path == "/settle":
            return self._with_failure("settle", lambda kind: self._settle(body, kind))
        if method == "POST" and path == "/_fake/fail":
            try:
                order = json.loads(body)
                self.fail_next(order["call"], order["kind"], int(order.get("times", 1)))
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {"error": str(exc)}
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/mine":
            self.mine_pending()
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return 200, {"ok": True}
        return 404, {"error": f"no route {method} {path}"}

    def _with_failure(self, call: str, run: Callable[[str | None], tuple[int, dict[str, Any]]]
                      ) -> tuple[int, dict[str, Any]]:
        kind = self._next_failure(call)
        if kind == "timeout":
            raise InjectedTimeout(processed=False)
        if kind == "5xx":
            return 503, {"error": "injected 5xx: facilitator unavailable"}
        result = run(kind)
        if kind == "timeout_after":
            raise InjectedTimeout(processed=True)
        return result

    def _parse(self, body: bytes) -> tuple[Any, Any, str] | str:
        """The request's payload, requirements and fingerprint, or why it is not an x402 request."""
        try:
            request = json.loads(body)
        except ValueError:
            return "body is not JSON"
        version = request.get("x402Version") if isinstance(request, dict) else None
        if version not in (1, 2):
            return "x402Version must be 1 or 2"
        payload_model, requirements_model = ((PaymentPayload, PaymentRequirements) if version == 2
                                             else (PaymentPayloadV1, PaymentRequirementsV1))
        try:
            payload = payload_model.model_validate(request["paymentPayload"])
            requirements = requirements_model.model_validate(request["paymentRequirements"])
        except (KeyError, TypeError, ValidationError) as exc:
            return f"not a v{version} paymentPayload/paymentRequirements: {str(exc)[:300]}"
        # The spec binds an id to the exact payload (a lost-answer retry re-sends it byte for byte).
        fingerprint = hashlib.sha256(canonical_json(request["paymentPayload"]).encode()).hexdigest()
        return payload, requirements, fingerprint

    def _bind_id(self, payload: PaymentPayload, fingerprint: str) -> tuple[str | None, bool]:
        """(payment id, conflict): the first payload seen with an id owns it."""
        payment_id = extract_payment_identifier(payload) if isinstance(payload, PaymentPayload) else None
        if not payment_id:
            return None, False
        with self._lock:
            first = self._ids.setdefault(payment_id, fingerprint)
        return payment_id, first != fingerprint

    def _verify(self, body: bytes, kind: str | None) -> tuple[int, dict[str, Any]]:
        parsed = self._parse(body)
        if isinstance(parsed, str):
            return 400, {"isValid": False, "invalidReason": "invalid_payload", "invalidMessage": parsed}
        payload, requirements, fingerprint = parsed
        payer = _payer(payload)
        _, conflict = self._bind_id(payload, fingerprint)
        if conflict:
            return 409, _without_none({"isValid": False, "invalidReason": CONFLICT, "payer": payer,
                                       "invalidMessage": f"{PAYMENT_IDENTIFIER} was used with another payload"})
        if kind in REFUSALS:
            return 200, _without_none({"isValid": False, "invalidReason": "insufficient_funds", "payer": payer})
        try:
            return 200, _dump(self.sdk.verify(payload, requirements))
        except SchemeNotFoundError as exc:
            return 200, {"isValid": False, "invalidReason": "unsupported_scheme", "invalidMessage": str(exc)}

    def _settle(self, body: bytes, kind: str | None) -> tuple[int, dict[str, Any]]:
        parsed = self._parse(body)
        if isinstance(parsed, str):
            return 400, {"success": False, "errorReason": "invalid_payload", "errorMessage": parsed,
                         "transaction": "", "network": _network_of(body)}
        payload, requirements, fingerprint = parsed
        network = str(requirements.network)
        payment_id, conflict = self._bind_id(payload, fingerprint)
        if conflict:
            return 409, _without_none({"success": False, "errorReason": CONFLICT, "transaction": "",
                                       "network": network, "payer": _payer(payload),
                                       "errorMessage": f"{PAYMENT_IDENTIFIER} was used with another payload"})
        if kind in REFUSALS:
            return 200, _without_none({"success": False, "errorReason": "insufficient_funds", "transaction": "",
                                       "network": network, "payer": _payer(payload)})
        # One settle at a time: a retry racing its original must find the original's answer.
        with self._settle_lock:
            if payment_id and payment_id in self._settled:
                return 200, self._settled[payment_id]
            if kind == "settlement_pending":
                self._w3.manager.request_blocking("evm_setAutomine", [False])
            try:
                result = self.sdk.settle(payload, requirements)
            except SchemeNotFoundError as exc:
                return 200, {"success": False, "errorReason": "unsupported_scheme", "errorMessage": str(exc),
                             "transaction": "", "network": network}
            response = _dump(result)
            if payment_id and result.success:
                # Only a final success is replayed; a pending one reconciles through the SDK's pending store.
                self._settled[payment_id] = response
        return 200, response


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _payer(payload: PaymentPayload) -> str | None:
    authorization = payload.payload.get("authorization") if isinstance(payload.payload, dict) else None
    return authorization.get("from") if isinstance(authorization, dict) else None


def _network_of(body: bytes) -> str:
    """The network a malformed settle asked for, when it can be read at all (SettleResponse needs one)."""
    try:
        network = json.loads(body)["paymentRequirements"]["network"]
    except (ValueError, KeyError, TypeError):
        return ""
    return network if isinstance(network, str) else ""


def facilitator_transport(facilitator: LocalFacilitator) -> httpx.MockTransport:
    """An httpx transport that serves requests from `facilitator` in this process."""

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            status, body = facilitator.handle(request.method, request.url.path, request.read())
        except InjectedTimeout as exc:
            where = "after" if exc.processed else "before"
            raise httpx.ReadTimeout(f"injected timeout ({where} processing)", request=request) from None
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


class FacilitatorServer:
    """A `LocalFacilitator` on a loopback HTTP port, served from a background thread."""

    def __init__(self, facilitator: LocalFacilitator, host: str = "127.0.0.1", port: int = 0,
                 timeout_delay_seconds: float = 5.0) -> None:
        self.facilitator = facilitator
        self.timeout_delay_seconds = timeout_delay_seconds
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # keep-alive client threads must not hold up stop()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FacilitatorServer:
        # A short poll: `stop()` (shutdown) waits for the loop to look, 0.5 s by default.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="facilitator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FacilitatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(server: FacilitatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, payload = server.facilitator.handle(method, self.path, body)
            except InjectedTimeout:
                time.sleep(server.timeout_delay_seconds)  # answer only after any sane client timeout fired
                status, payload = 504, {"error": "injected timeout"}
            except Exception as exc:  # the SDK or the RPC broke: a 500 the client can retry, never a hang
                log.exception("facilitator: %s %s failed", method, self.path)
                status, payload = 500, {"error": f"facilitator error: {type(exc).__name__}: {redact(str(exc))[:200]}"}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("facilitator: " + format, *args)

    return Handler


def local_facilitator(settings: Settings) -> LocalFacilitator:
    """A facilitator in this process on this root's local chain (found or started)."""
    from genesis_payments.payments.fakes.local_chain import ensure_local_chain

    return LocalFacilitator(ensure_local_chain(settings).rpc_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genesis_payments.payments.fakes.facilitator",
                                     description="The SDK's x402 facilitator on a local chain, on loopback.")
    parser.add_argument("--rpc", required=True, help="the local chain's JSON-RPC URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--confirmation-timeout", type=float, default=DEFAULT_CONFIRMATION_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    facilitator = LocalFacilitator(args.rpc, confirmation_timeout_seconds=args.confirmation_timeout)
    server = FacilitatorServer(facilitator, host=args.host, port=args.port)
    print(server.url, flush=True)  # the first line tells a parent process where it listens
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
