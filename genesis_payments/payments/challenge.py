"""A seller's 402 challenge (§9): what it asks, and which of its offers this buyer may pay.

The challenge is read with the x402 SDK's own decoders: v2's `PAYMENT-REQUIRED` header (base64
JSON) or v1's JSON body (`accepts`, `maxAmountRequired`, legacy network names). An offer is
payable when its scheme is `exact`, its network is one the settings allow, and its asset is a
known USD stablecoin of that network, whose own decimals convert the amount (an 18-decimal asset
is never read as if it had 6). Everything refused is named, so a buyer can say why it cannot pay.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from pydantic import ValidationError
from x402.http.constants import PAYMENT_REQUIRED_HEADER
from x402.http.utils import decode_payment_required_header
from x402.mechanisms.evm.default_assets import find_default_asset
from x402.mechanisms.evm.v1.constants import V1_NETWORK_CHAIN_IDS
from x402.schemas import PaymentRequired, PaymentRequirements
from x402.schemas.v1 import PaymentRequiredV1, PaymentRequirementsV1

from genesis_payments.core.errors import InvalidMoney
from genesis_payments.core.money import format_usd, usd_from_atomic
from genesis_payments.payments.errors import ChallengeError, NoAcceptableOffer

MAX_CHALLENGE_BYTES = 64 * 1024
"""A 402 larger than this (header or body) is refused unread: a seller needs far less."""


@dataclass(frozen=True)
class KnownAsset:
    """A USD stablecoin this buyer pays with: where it lives and how it counts."""

    network: str
    address: str
    symbol: str
    decimals: int
    name: str | None = None
    version: str | None = None


def caip2(network: str) -> str:
    """A network as CAIP-2: v1's legacy names (`base-sepolia`) mapped by the SDK's own table."""
    if ":" in network:
        return network
    chain_id = V1_NETWORK_CHAIN_IDS.get(network)
    return f"eip155:{chain_id}" if chain_id is not None else network


def find_asset(network: str, address: str, extra_assets: Iterable[Mapping[str, Any]] = ()) -> KnownAsset | None:
    """The SDK's default USD assets of a network, then the configured extra ones; None if unknown."""
    network = caip2(network)
    for entry in extra_assets:
        if caip2(str(entry.get("network", ""))) == network and str(entry.get("asset", "")).lower() == address.lower():
            return KnownAsset(network, str(entry["asset"]), str(entry.get("symbol", "USD")), int(entry["decimals"]),
                              entry.get("name"), entry.get("version"))
    found = find_default_asset(address, network)
    if found is None:
        return None
    return KnownAsset(network, found["asset"], found["symbol"], int(found["decimals"]), found["name"],
                      found["version"])


@dataclass(frozen=True)
class Offer:
    """One payable requirement of a challenge, converted with its asset's own decimals."""

    version: int
    requirement: PaymentRequirements | PaymentRequirementsV1
    network: str  # CAIP-2
    asset: KnownAsset
    pay_to: str
    amount_atomic: int
    amount_usd: Decimal
    max_timeout_seconds: int

    def describe(self) -> str:
        return f"{format_usd(self.amount_usd)} USD in {self.asset.symbol} on {self.network} to {self.pay_to}"


@dataclass(frozen=True)
class Challenge:
    """A seller's 402 as the SDK decoded it, and the URL it came from."""

    url: str
    payment_required: PaymentRequired | PaymentRequiredV1

    @property
    def version(self) -> int:
        return int(self.payment_required.x402_version)

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(getattr(self.payment_required, "extensions", None) or {})

    @property
    def error(self) -> str | None:
        return getattr(self.payment_required, "error", None)


def read_challenge(response: httpx.Response) -> Challenge:
    """The challenge of a 402 answer; ChallengeError when it is missing, malformed or oversized."""
    url = str(response.request.url) if response.request is not None else "?"
    header = response.headers.get(PAYMENT_REQUIRED_HEADER)
    try:
        if header:
            if len(header) > MAX_CHALLENGE_BYTES:
                raise ChallengeError(f"{url}: PAYMENT-REQUIRED header of {len(header)} bytes is over "
                                     f"{MAX_CHALLENGE_BYTES}; refused unread")
            return Challenge(url, decode_payment_required_header(header))
        body = response.content
        if len(body) > MAX_CHALLENGE_BYTES:
            raise ChallengeError(f"{url}: 402 body of {len(body)} bytes is over {MAX_CHALLENGE_BYTES}; refused unread")
        data = _json_or_none(body)
        if isinstance(data, dict) and data.get("x402Version") == 1:
            return Challenge(url, PaymentRequiredV1.model_validate(data))
    except ChallengeError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError, ValidationError) as exc:
        raise ChallengeError(f"{url}: the 402's payment requirements are malformed ({type(exc).__name__})") from None
    raise ChallengeError(f"{url}: answered 402 without x402 payment requirements (no PAYMENT-REQUIRED header, "
                         "no v1 body)")


def _json_or_none(body: bytes) -> Any:
    """A body's JSON, or None for a body that is not JSON (a 402 page of free-form text)."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _amount_of(requirement: PaymentRequirements | PaymentRequirementsV1) -> str:
    if isinstance(requirement, PaymentRequirementsV1):
        return requirement.max_amount_required
    return requirement.amount


def payable_offers(challenge: Challenge, networks: Iterable[str],
                   extra_assets: Iterable[Mapping[str, Any]] = ()) -> tuple[list[Offer], list[str]]:
    """The offers this buyer may pay (cheapest first), and why each other one was refused."""
    allowed = [caip2(n) for n in networks]
    extra = list(extra_assets)
    offers: list[Offer] = []
    refused: list[str] = []
    for index, requirement in enumerate(challenge.payment_required.accepts):
        where = f"offer {index + 1} ({requirement.scheme} on {requirement.network})"
        network = caip2(str(requirement.network))
        if requirement.scheme != "exact":
            refused.append(f"{where}: scheme {requirement.scheme!r} is not one this buyer speaks (exact)")
            continue
        if network not in allowed:
            refused.append(f"{where}: network {network} is not allowed (allowed: {', '.join(allowed)})")
            continue
        asset = find_asset(network, requirement.asset, extra)
        if asset is None:
            refused.append(f"{where}: asset {requirement.asset} is not a known USD stablecoin of {network}")
            continue
        text = _amount_of(requirement)
        try:
            atomic = int(text) if text.isdigit() else -1
            amount = usd_from_atomic(atomic, asset.decimals)
        except InvalidMoney as exc:
            refused.append(f"{where}: amount {text!r} is not a payable atomic amount ({exc})")
            continue
        offers.append(Offer(challenge.version, requirement, network, asset, requirement.pay_to, atomic, amount,
                            int(requirement.max_timeout_seconds)))
    offers.sort(key=lambda o: (o.amount_usd, allowed.index(o.network)))
    return offers, refused


def best_offer(challenge: Challenge, networks: Iterable[str], extra_assets: Iterable[Mapping[str, Any]] = ()) -> Offer:
    """The cheapest payable offer; NoAcceptableOffer naming every refusal when there is none."""
    offers, refused = payable_offers(challenge, networks, extra_assets)
    if not offers:
        detail = "; ".join(refused) or "it lists no offers"
        raise NoAcceptableOffer(f"{challenge.url}: no payable offer: {detail}")
    return offers[0]
