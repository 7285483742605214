"""An x402 v2 facilitator over HTTP (httpx): `GET /supported`, `POST /verify`, `POST /settle`.

Bodies are the v2 ones (`{x402Version: 2, paymentPayload, paymentRequirements}`), built and parsed
with the SDK's pydantic models. Every call has an explicit timeout; every error names the call.
A timeout, connection error or 5xx is `FacilitatorUnavailable` (the outcome is unknown, the same
call may be retried with the same payload); anything else unexpected is `FacilitatorError`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from x402.schemas import PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse

from genesis_payments.core.redaction import redact
from genesis_payments.payments.errors import FacilitatorError, FacilitatorUnavailable

X402_VERSION = 2
M = TypeVar("M", bound=BaseModel)


class FacilitatorClient:
    def __init__(self, base_url: str, *, timeout_seconds: float, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # Connecting should be quick on any sane network; the read covers the facilitator's own work.
        timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0))
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FacilitatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_supported(self) -> SupportedResponse:
        response = self._request("supported", "GET", "/supported")
        return self._parse("supported", response, SupportedResponse)

    def verify(self, payload: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        response = self._request("verify", "POST", "/verify", json=request_body(payload, requirements))
        return self._parse("verify", response, VerifyResponse, accept_400=True)

    def settle(self, payload: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        response = self._request("settle", "POST", "/settle", json=request_body(payload, requirements))
        return self._parse("settle", response, SettleResponse, accept_400=True)

    def _request(self, call: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        where = redact(f"{self.base_url}{path}")
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise FacilitatorUnavailable(call, f"timed out at {where} ({type(exc).__name__}); retry later") from None
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}: {redact(str(exc))}"
            raise FacilitatorUnavailable(call, f"cannot reach {where}: {reason}") from None
        if response.status_code >= 500:
            raise FacilitatorUnavailable(call, f"HTTP {response.status_code} from {where}: {_excerpt(response)}")
        return response

    def _parse(self, call: str, response: httpx.Response, model: type[M], *, accept_400: bool = False) -> M:
        # A facilitator may answer an invalid payment with 400 and the verify/settle body itself.
        if response.status_code != 200 and not (accept_400 and response.status_code == 400):
            raise FacilitatorError(call, f"HTTP {response.status_code}: {_excerpt(response)}")
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError):
            raise FacilitatorError(
                call, f"HTTP {response.status_code} with a body that is not a {model.__name__}: {_excerpt(response)}"
            ) from None


def request_body(payload: PaymentPayload, requirements: PaymentRequirements) -> dict[str, Any]:
    """The v2 verify/settle body, camelCase as the SDK serialises it."""
    return {
        "x402Version": X402_VERSION,
        "paymentPayload": payload.model_dump(by_alias=True, exclude_none=True, mode="json"),
        "paymentRequirements": requirements.model_dump(by_alias=True, exclude_none=True, mode="json"),
    }


def _excerpt(response: httpx.Response, limit: int = 300) -> str:
    text = " ".join((response.text or "").split()) or "<empty body>"
    return redact(text[:limit])
