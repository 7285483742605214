"""The fake x402 facilitator: the SDK's own `x402FacilitatorSync` + exact-EVM scheme on a simulated chain.

Same HTTP API as a real facilitator (`GET /supported`, `POST /verify`, `POST /settle`, v2 bodies),
served in process through an httpx transport (`fake_transport`) or on a loopback port
(`FakeFacilitatorServer`, `genesis-payments fake-facilitator --port P`). It honours the x402
`payment-identifier` extension on settle (same id + same payload → the cached response; same id +
another payload → 409) and can be told to fail (`fail_next`, or `POST /_fake/fail` on the server):

| kind | effect |
|---|---|
| `timeout` | the call times out before the facilitator does anything |
| `timeout_after` | the call is processed, then the answer is lost to a timeout |
| `5xx` | HTTP 503, nothing processed |
| `insufficient_funds` | verify/settle answer the x402 reason `insufficient_funds` |
| `settlement_pending` | settle broadcasts, but the receipt wait fails → `settlement_pending` with the tx hash |
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pydantic import ValidationError
from x402 import x402FacilitatorSync
from x402.extensions.payment_identifier import PAYMENT_IDENTIFIER, extract_payment_identifier
from x402.mechanisms.evm.exact import ExactEvmFacilitatorScheme
from x402.schemas import PaymentPayload, PaymentRequirements, SchemeNotFoundError

from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.jsonl import canonical_json
from genesis_payments.payments.fakes.fake_chain import FAKE_NETWORKS, SimulatedChain

log = logging.getLogger(__name__)

FAILURE_KINDS = ("timeout", "timeout_after", "5xx", "insufficient_funds", "settlement_pending")
CALLS = ("supported", "verify", "settle")


class FakeTimeout(Exception):
    """Raised inside the fake where a real facilitator would never answer in time."""

    def __init__(self, processed: bool) -> None:
        super().__init__("injected timeout")
        self.processed = processed


class FakeFacilitator:
    """Routes facilitator requests to the SDK facilitator; transport-independent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.chain = SimulatedChain(settings)
        self.sdk = x402FacilitatorSync()
        scheme = ExactEvmFacilitatorScheme(self.chain, pending_store=self.chain.pending_store)
        self.sdk.register(list(FAKE_NETWORKS), scheme)
        self._failures: dict[str, deque[str]] = {call: deque() for call in CALLS}
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {call: 0 for call in CALLS}

    def fail_next(self, call: str, kind: str, times: int = 1) -> None:
        """Make the next `times` calls of `call` fail with `kind` (see the module's table)."""
        if call not in CALLS or kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure {call!r}/{kind!r}; calls {CALLS}, kinds {FAILURE_KINDS}")
        if kind == "settlement_pending" and call != "settle":
            raise ValueError("settlement_pending applies to settle only")
        with self._lock:
            self._failures[call].extend([kind] * times)

    def _next_failure(self, call: str) -> str | None:
        with self._lock:
            self.calls[call] += 1
            return self._failures[call].popleft() if self._failures[call] else None

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """One HTTP request → (status, JSON body). Raises FakeTimeout for an injected timeout."""
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path.endswith("/health"):
            return 200, {"status": "ok"}
        if method == "GET" and path.endswith("/supported"):
            return self._with_failure("supported", self._supported)
        if method == "POST" and path.endswith("/verify"):
            return self._with_failure("verify", lambda kind: self._verify(body, kind))
        if method == "POST" and path.endswith("/settle"):
            return self._with_failure("settle", lambda kind: self._settle(body, kind))
        if method == "POST" and path.endswith("/_fake/fail"):
            try:
                order = json.loads(body)
                self.fail_next(order["call"], order["kind"], int(order.get("times", 1)))
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {"error": str(exc)}
            return 200, {"ok": True}
        return 404, {"error": f"no route {method} {path}"}

    def _with_failure(self, call: str, run: Any) -> tuple[int, dict[str, Any]]:
        kind = self._next_failure(call)
        if kind == "timeout":
            raise FakeTimeout(processed=False)
        if kind == "5xx":
            return 503, {"error": "injected 5xx: facilitator unavailable"}
        result = run(kind)
        if kind == "timeout_after":
            raise FakeTimeout(processed=True)
        return result

    def _supported(self, _kind: str | None) -> tuple[int, dict[str, Any]]:
        return 200, self.sdk.get_supported().model_dump(by_alias=True, exclude_none=True, mode="json")

    def _parse(self, body: bytes) -> tuple[PaymentPayload, PaymentRequirements] | tuple[int, dict[str, Any]]:
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"isValid": False, "invalidReason": "invalid_payload", "invalidMessage": "body is not JSON"}
        if not isinstance(request, dict) or request.get("x402Version") != 2:
            return 400, {"isValid": False, "invalidReason": "invalid_x402_version"}
        try:
            payload = PaymentPayload.model_validate(request["paymentPayload"])
            requirements = PaymentRequirements.model_validate(request["paymentRequirements"])
        except (KeyError, ValidationError) as exc:
            return 400, {"isValid": False, "invalidReason": "invalid_payload", "invalidMessage": str(exc)[:300]}
        return payload, requirements

    def _verify(self, body: bytes, kind: str | None) -> tuple[int, dict[str, Any]]:
        parsed = self._parse(body)
        if isinstance(parsed[0], int):
            return parsed  # type: ignore[return-value]
        payload, requirements = parsed  # type: ignore[misc]
        if kind == "insufficient_funds":
            return 200, {"isValid": False, "invalidReason": "insufficient_funds", "payer": _payer(payload)}
        with self.chain.session():
            try:
                result = self.sdk.verify(payload, requirements)
            except SchemeNotFoundError as exc:
                return 200, {"isValid": False, "invalidReason": "unsupported_scheme", "invalidMessage": str(exc)}
        return 200, result.model_dump(by_alias=True, exclude_none=True, mode="json")

    def _settle(self, body: bytes, kind: str | None) -> tuple[int, dict[str, Any]]:
        parsed = self._parse(body)
        if isinstance(parsed[0], int):
            return parsed  # type: ignore[return-value]
        payload, requirements = parsed  # type: ignore[misc]
        network = str(requirements.network)
        if kind == "insufficient_funds":
            return 200, {"success": False, "errorReason": "insufficient_funds", "transaction": "", "network": network}
        payment_id = extract_payment_identifier(payload)
        fingerprint = hashlib.sha256(canonical_json(json.loads(body)).encode()).hexdigest()
        with self.chain.session() as state:
            cached = state["settled"].get(payment_id) if payment_id else None
            if cached is not None:
                if cached["fingerprint"] != fingerprint:
                    return 409, {"error": f"{PAYMENT_IDENTIFIER} {payment_id} was used with a different payload"}
                return 200, cached["response"]
            if kind == "settlement_pending":
                self.chain.pending_receipt_failures += 1
            try:
                result = self.sdk.settle(payload, requirements)
            except SchemeNotFoundError as exc:
                return 200, {"success": False, "errorReason": "unsupported_scheme", "errorMessage": str(exc),
                             "transaction": "", "network": network}
            finally:
                self.chain.pending_receipt_failures = 0
            response = result.model_dump(by_alias=True, exclude_none=True, mode="json")
            if payment_id and result.success:
                # Only a final success is replayed; a pending one must reconcile on the retry.
                state["settled"][payment_id] = {"fingerprint": fingerprint, "response": response}
                self.chain.mark_dirty()
        return 200, response


def _payer(payload: PaymentPayload) -> str | None:
    authorization = payload.payload.get("authorization") if isinstance(payload.payload, dict) else None
    return authorization.get("from") if isinstance(authorization, dict) else None


def fake_transport(fake: FakeFacilitator) -> httpx.MockTransport:
    """An httpx transport that serves requests from `fake` in this process."""

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            status, body = fake.handle(request.method, request.url.path, request.read())
        except FakeTimeout as exc:
            raise httpx.ReadTimeout(f"injected timeout ({'after' if exc.processed else 'before'} processing)",
                                    request=request) from None
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


class FakeFacilitatorServer:
    """The fake on a real loopback HTTP port, served from a background thread."""

    def __init__(self, fake: FakeFacilitator, host: str = "127.0.0.1", port: int = 0,
                 timeout_delay_seconds: float = 5.0) -> None:
        self.fake = fake
        self.timeout_delay_seconds = timeout_delay_seconds
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # keep-alive client threads must not hold up stop()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeFacilitatorServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-facilitator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeFacilitatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(server: FakeFacilitatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, payload = server.fake.handle(method, self.path, body)
            except FakeTimeout:
                # Answer only after any sane client timeout has fired.
                time.sleep(server.timeout_delay_seconds)
                status, payload = 504, {"error": "injected timeout"}
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
            log.debug("fake facilitator: " + format, *args)

    return Handler
