"""Fake mode's sellers: real x402 resource servers on loopback, one per fake vendor (§9).

Each seller is a FastAPI app behind the x402 SDK's own payment middleware
(`x402ResourceServer` + `ExactEvmServerScheme`), backed by a facilitator over HTTP, so the buyer
meets exactly what it meets in live mode: a 402 with `PAYMENT-REQUIRED`, a paid request settled by
the seller, and the resource with `PAYMENT-RESPONSE`. `GET /<sku>?units=N` sells N units of a SKU
of the vendor's price list. Two things sit around the SDK's middleware:

- the `payment-identifier` extension's server side (the SDK only declares it): a retry carrying
  the same identifier and the same payload gets the answer the first request got, so a buyer whose
  answer was lost after settlement receives its resource without paying twice; the same identifier
  with another payload is refused with 409;
- a fault layer the tests drive (`POST /_fake/fault {"kind": …, "times": n}`, kinds in `FAULTS`).

The v1 seller (`v1_seller_app`) speaks the legacy transport (JSON 402 body, `X-PAYMENT`,
`X-PAYMENT-RESPONSE`); the SDK has no v1 server middleware, so it calls the facilitator itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from x402 import x402ResourceServer
from x402.extensions.payment_identifier import (
    PAYMENT_IDENTIFIER,
    declare_payment_identifier_extension,
    extract_payment_identifier,
)
from x402.http import FacilitatorConfig, HTTPFacilitatorClient, HTTPFacilitatorClientSync
from x402.http.constants import PAYMENT_SIGNATURE_HEADER, X_PAYMENT_HEADER, X_PAYMENT_RESPONSE_HEADER
from x402.http.middleware.fastapi import payment_middleware
from x402.http.types import PaymentOption, RouteConfig
from x402.http.utils import decode_payment_signature_header, encode_payment_response_header
from x402.mechanisms.evm.default_assets import get_default_asset
from x402.mechanisms.evm.exact import ExactEvmServerScheme
from x402.schemas import PaymentPayload
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequirementsV1

from genesis_payments.core.files import write_json_atomic
from genesis_payments.core.money import format_usd, parse_usd, to_micro

log = logging.getLogger(__name__)

FAKE_NETWORK = "eip155:84532"
"""Fake mode's one network: Base Sepolia, the chain id the local chain runs with."""
V1_NETWORK_NAME = "base-sepolia"
MAX_TIMEOUT_SECONDS = 300

FAULTS = {
    "stall_after_settle": "settle, then answer only after the buyer has given up (a lost answer)",
    "hang": "answer nothing until the buyer has given up, doing nothing",
    "error_after_settle": "settle, then answer 502 instead of the resource",
    "no_payment_response": "settle, then answer 200 without PAYMENT-RESPONSE",
    "redirect": "answer 302 to another origin instead of the resource",
    "price_x2": "ask twice the price (a live price above the approval)",
    "new_pay_to": "ask to be paid at another address",
}
# These two change what the seller asks until cleared (`{"kind": "clear"}`); the others happen once.
STANDING = ("price_x2", "new_pay_to")


@dataclass(frozen=True)
class SellerSpec:
    """What one fake vendor sells: SKU → unit price in USDC, paid to `pay_to` on `network`."""

    vendor: str
    pricing: Mapping[str, Decimal]
    pay_to: str
    network: str = FAKE_NETWORK
    description: str = ""


@dataclass
class FaultQueue:
    """Faults the next paid or unpaid requests suffer, in order (thread-safe)."""

    pending: deque[str] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stall_seconds: float = 15.0

    def push(self, kind: str, times: int = 1) -> None:
        if kind == "clear":
            with self.lock:
                self.pending.clear()
            return
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        with self.lock:
            self.pending.extend([kind] * times)

    def standing(self, kind: str) -> bool:
        with self.lock:
            return kind in STANDING and kind in self.pending

    def take(self, kinds: tuple[str, ...]) -> str | None:
        """Remove and return the first pending one-shot fault among `kinds`."""
        with self.lock:
            for kind in self.pending:
                if kind in kinds and kind not in STANDING:
                    self.pending.remove(kind)
                    return kind
            return None


def usdc(network: str) -> dict[str, Any]:
    """The SDK's USDC of `network`: address, EIP-712 name/version, decimals."""
    return get_default_asset(network, "USDC")


def _units(request: Request) -> int:
    try:
        units = int(request.query_params.get("units", "1"))
    except ValueError:
        return 0
    return units if 1 <= units <= 1_000_000 else 0


def _unit_price(spec: SellerSpec, path: str) -> Decimal | None:
    return spec.pricing.get(path.strip("/"))


def _receipt_body(spec: SellerSpec, sku: str, units: int) -> dict[str, Any]:
    price = spec.pricing[sku] * units
    token = hashlib.sha256(f"{sku}{units}{time.time_ns()}".encode()).hexdigest()[:16]
    return {"vendor": spec.vendor, "sku": sku, "units": units, "price_usd": format_usd(price),
            "resource": f"{spec.vendor}/{sku}/{token}"}


class ReplayCache:
    """The payment-identifier extension, server side: identifier → (payload digest, answer)."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[str, int, dict[str, str], bytes]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key_of(header: str) -> tuple[str | None, str]:
        digest = hashlib.sha256(header.encode()).hexdigest()
        try:
            payload = decode_payment_signature_header(header)
        except (ValueError, TypeError):
            return None, digest
        identifier = extract_payment_identifier(payload) if isinstance(payload, PaymentPayload) else None
        return identifier, digest

    def get(self, identifier: str) -> tuple[str, int, dict[str, str], bytes] | None:
        with self._lock:
            return self._answers.get(identifier)

    def put(self, identifier: str, digest: str, status: int, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self._answers.setdefault(identifier, (digest, status, headers, body))


def seller_app(spec: SellerSpec, facilitator_url: str, faults: FaultQueue | None = None) -> FastAPI:
    """A v2 seller: the SDK's FastAPI payment middleware in front of the vendor's SKUs."""
    faults = faults or FaultQueue()
    replay = ReplayCache()
    asset = usdc(spec.network)
    app = FastAPI(title=f"fake seller {spec.vendor}")
    app.state.faults = faults

    def price(context: Any) -> dict[str, Any]:
        unit = _unit_price(spec, context.path) or Decimal(0)
        units = int(context.adapter.get_query_param("units") or 1)
        multiplier = 2 if faults.standing("price_x2") else 1
        return {"amount": str(to_micro(unit * units * multiplier)), "asset": asset["asset"],
                "extra": {"name": asset["name"], "version": asset["version"]}}

    def pay_to(_context: Any) -> str:
        return "0x" + "00" * 19 + "01" if faults.standing("new_pay_to") else spec.pay_to

    routes = {
        f"GET /{sku}": RouteConfig(
            accepts=PaymentOption(scheme="exact", pay_to=pay_to, price=price, network=spec.network,
                                  max_timeout_seconds=MAX_TIMEOUT_SECONDS),
            description=f"{spec.description or spec.vendor}: {sku}",
            mime_type="application/json",
            extensions={PAYMENT_IDENTIFIER: declare_payment_identifier_extension(required=False)},
        )
        for sku in spec.pricing
    }
    server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator_url, timeout=30)))
    server.register(spec.network, ExactEvmServerScheme())
    x402_middleware = payment_middleware(routes, server)  # built once: it fetches /supported now

    @app.middleware("http")
    async def paid(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/_fake/"):
            return await call_next(request)
        header = request.headers.get(PAYMENT_SIGNATURE_HEADER)
        identifier, digest = ReplayCache.key_of(header) if header else (None, "")
        if identifier is not None:
            cached = replay.get(identifier)
            if cached is not None:
                if cached[0] != digest:
                    return JSONResponse({"error": f"payment-identifier {identifier} was used with another payload"},
                                        status_code=409)
                return Response(cached[3], status_code=cached[1], headers=cached[2])
        if faults.take(("hang",)):
            await asyncio.sleep(faults.stall_seconds)
        if header and faults.take(("redirect",)):
            return Response(status_code=302, headers={"Location": "http://127.0.0.2:9/elsewhere"})
        response = await x402_middleware(request, call_next)
        if header is None:
            return response
        if hasattr(response, "body_iterator"):
            body = b"".join([chunk async for chunk in response.body_iterator])
        else:
            body = bytes(response.body)
        headers = dict(response.headers)
        headers.pop("content-length", None)
        if identifier is not None and 200 <= response.status_code < 300:
            replay.put(identifier, digest, response.status_code, headers, body)
        fault = faults.take(("stall_after_settle", "error_after_settle", "no_payment_response"))
        if fault == "stall_after_settle":
            await asyncio.sleep(faults.stall_seconds)
        if fault == "error_after_settle":
            return JSONResponse({"error": "injected: upstream failed after settlement"}, status_code=502)
        if fault == "no_payment_response":
            headers = {k: v for k, v in headers.items() if k.lower() != "payment-response"}
        return Response(body, status_code=response.status_code, headers=headers)

    _add_routes(app, spec, faults)
    return app


def _add_routes(app: FastAPI, spec: SellerSpec, faults: FaultQueue) -> None:
    @app.get("/{sku}")
    async def resource(sku: str, request: Request) -> JSONResponse:
        units = _units(request)
        if sku not in spec.pricing or units == 0:
            return JSONResponse({"error": f"{spec.vendor} sells {sorted(spec.pricing)}, units 1..1000000"}, 404)
        return JSONResponse(_receipt_body(spec, sku, units))

    @app.get("/_fake/health")
    async def health() -> JSONResponse:
        return JSONResponse({"vendor": spec.vendor, "ok": True})

    @app.post("/_fake/fault")
    async def fault(request: Request) -> JSONResponse:
        order = await request.json()
        try:
            faults.push(str(order["kind"]), int(order.get("times", 1)))
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"ok": True})


def v1_seller_app(spec: SellerSpec, facilitator_url: str) -> FastAPI:
    """A seller that speaks only x402 v1: JSON 402 body, `X-PAYMENT` in, `X-PAYMENT-RESPONSE` out."""
    app = FastAPI(title=f"fake v1 seller {spec.vendor}")
    facilitator = HTTPFacilitatorClientSync(FacilitatorConfig(url=facilitator_url, timeout=30))
    asset = usdc(spec.network)

    def requirements(request: Request, sku: str, units: int) -> PaymentRequirementsV1:
        return PaymentRequirementsV1(
            scheme="exact", network=V1_NETWORK_NAME, max_amount_required=str(to_micro(spec.pricing[sku] * units)),
            resource=str(request.url), description=f"{spec.vendor}: {sku}", mime_type="application/json",
            pay_to=spec.pay_to, max_timeout_seconds=MAX_TIMEOUT_SECONDS, asset=asset["asset"],
            extra={"name": asset["name"], "version": asset["version"]},
        )

    @app.get("/{sku}")
    def resource(sku: str, request: Request) -> Response:
        units = _units(request)
        if sku not in spec.pricing or units == 0:
            return JSONResponse({"error": f"{spec.vendor} sells {sorted(spec.pricing)}"}, 404)
        wanted = requirements(request, sku, units)
        header = request.headers.get(X_PAYMENT_HEADER)
        if not header:
            return JSONResponse({"x402Version": 1, "error": "X-PAYMENT header is required",
                                 "accepts": [wanted.model_dump(by_alias=True, exclude_none=True)]}, 402)
        try:
            payload = decode_payment_signature_header(header)
        except (ValueError, TypeError):
            return JSONResponse({"x402Version": 1, "error": "invalid_payload", "accepts": []}, 400)
        if not isinstance(payload, PaymentPayloadV1):
            return JSONResponse({"x402Version": 1, "error": "invalid_x402_version", "accepts": []}, 400)
        verdict = facilitator.verify(payload, wanted)
        if not verdict.is_valid:
            return JSONResponse({"x402Version": 1, "error": verdict.invalid_reason,
                                 "accepts": [wanted.model_dump(by_alias=True, exclude_none=True)]}, 402)
        settled = facilitator.settle(payload, wanted)
        headers = {X_PAYMENT_RESPONSE_HEADER: encode_payment_response_header(settled)}
        if not settled.success:
            return JSONResponse({"x402Version": 1, "error": settled.error_reason, "accepts": []}, 402,
                                headers=headers)
        return JSONResponse(_receipt_body(spec, sku, units), headers=headers)

    return app


class LoopbackServer:
    """One ASGI app served by uvicorn on 127.0.0.1 from a background thread."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        self.app = app
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def start(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.ask_to_stop()
        self.wait_stopped()

    def ask_to_stop(self) -> None:
        self.server.should_exit = True  # uvicorn's loop notices within its tick (0.1 s) and shuts down

    def wait_stopped(self) -> None:
        self.thread.join(timeout=5)
        self.socket.close()


@dataclass
class SellerFleet:
    """The running sellers: vendor id → base URL, and their fault queues."""

    servers: dict[str, LoopbackServer]
    faults: dict[str, FaultQueue]

    @property
    def urls(self) -> dict[str, str]:
        return {vendor: server.url for vendor, server in self.servers.items()}

    def stop(self) -> None:
        # All asked first, then awaited: each takes a few of uvicorn's ticks to shut down, together.
        for server in self.servers.values():
            server.ask_to_stop()
        for server in self.servers.values():
            server.wait_stopped()


def fake_seller_specs() -> list[SellerSpec]:
    """One seller per vendor of the fake catalogue, on fake mode's network."""
    from genesis_payments.payments.vendor_cache import FAKE_CATALOGUE

    return [
        SellerSpec(vendor=entry["vendor"], pricing={sku: parse_usd(p) for sku, p in entry["pricing"].items()},
                   pay_to=entry["pay_to"], description=entry.get("description", ""))
        for entry in FAKE_CATALOGUE.values()
    ]


def start_sellers(facilitator_url: str, specs: list[SellerSpec] | None = None,
                  registry: Path | None = None) -> SellerFleet:
    """Start one seller per spec (default: every fake vendor); `registry` gets vendor → URL."""
    servers: dict[str, LoopbackServer] = {}
    faults: dict[str, FaultQueue] = {}
    for spec in specs if specs is not None else fake_seller_specs():
        faults[spec.vendor] = FaultQueue()
        servers[spec.vendor] = LoopbackServer(seller_app(spec, facilitator_url, faults[spec.vendor])).start()
    fleet = SellerFleet(servers, faults)
    if registry is not None:
        write_json_atomic(registry, {"sellers": fleet.urls, "facilitator": facilitator_url})
    return fleet


def _registry(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def seller_registry(path: Path) -> dict[str, str]:
    """Vendor → base URL of the sellers a running fleet wrote to `path` (empty when none)."""
    sellers = _registry(path).get("sellers")
    return {str(k): str(v) for k, v in sellers.items()} if isinstance(sellers, dict) else {}


def registry_facilitator(path: Path) -> str:
    """The facilitator URL the registered sellers settle through ('' when none)."""
    return str(_registry(path).get("facilitator") or "")


def encode_header(value: Mapping[str, Any]) -> str:
    """Base64 JSON, as x402 headers carry it (for tests that build a hostile header by hand)."""
    return base64.b64encode(json.dumps(value).encode()).decode()
