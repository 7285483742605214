"""One JSON-RPC connection per use, with bounded retries; errors name the RPC (redacted), never a secret.

A node that is down, times out or answers garbage raises `ChainRpcError` after `attempts` tries:
callers (ledger-sync, balances) fail their run rather than guess. A receipt that the node says does
not exist is not an error: that is a fact about the chain, for the caller to judge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from web3 import Web3
from web3.exceptions import TransactionNotFound

from genesis_payments.core.errors import ServiceUnavailable
from genesis_payments.core.redaction import MASK, redact

T = TypeVar("T")
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 0.2


class ChainRpcError(ServiceUnavailable):
    """The RPC node could not answer (down, timing out, HTTP or JSON-RPC error, garbage)."""


def connect(rpc_url: str, *, timeout_seconds: float = 10.0) -> Web3:
    """A web3 client for `rpc_url` with an explicit timeout (no middleware, no retries of its own)."""
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_seconds},
                                 exception_retry_configuration=None)  # retries are with_retries' alone
    return Web3(provider)


def rpc_name(w3: Web3) -> str:
    """The node as it may be shown: scheme, host and port only (paths and credentials often hold API keys)."""
    parts = urlsplit(str(getattr(w3.provider, "endpoint_uri", "")))
    host = parts.hostname or "?"
    return f"{parts.scheme or 'http'}://{host}{f':{parts.port}' if parts.port else ''}"


def _reason(w3: Web3, exc: Exception) -> str:
    """The failure in words, with the node's URL (and so any key in its path) taken out."""
    text = str(exc)
    parts = urlsplit(str(getattr(w3.provider, "endpoint_uri", "")))
    for secret in {parts.path, parts.query, parts.username or "", parts.password or ""} - {"", "/"}:
        text = text.replace(secret, MASK)
    return f"{type(exc).__name__}: {redact(text)[:200]}"


def with_retries(w3: Web3, what: str, call: Callable[[], T], *, attempts: int = DEFAULT_ATTEMPTS,
                 backoff_seconds: float = DEFAULT_BACKOFF_SECONDS) -> T:
    """`call()`, tried up to `attempts` times; then a ChainRpcError naming `what` and the RPC."""
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return call()
        except TransactionNotFound:
            raise
        except Exception as exc:  # web3 and requests raise many types for one cause: the node failed us
            last = exc
            if attempt + 1 < attempts:
                time.sleep(backoff_seconds * (2**attempt))
    reason = _reason(w3, last) if last else "no answer"
    raise ChainRpcError(f"{what}: RPC {rpc_name(w3)} failed after {attempts} attempts ({reason})")
