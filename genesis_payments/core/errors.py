"""The one small hierarchy of errors every layer raises; each message says what, where and what to do.

    PaymentsError                 anything this project raises on purpose (CLI: exit 1)
    ├── ConfigError               settings missing or invalid (CLI: exit 2)
    ├── UsageError                arguments a command cannot use (CLI: exit 2)
    ├── InvalidInput              input the contract rejects (also a ValueError)
    │   ├── InvalidMoney          §3
    │   └── InvalidRecord         §4
    ├── LedgerError               a ledger (file or table) could not be read or appended to
    │   └── InsufficientFunds     a wallet debit larger than its balance
    ├── PaymentRefused            the rules do not allow it; nothing was written
    ├── ServiceError              an outside service failed (Discord, RPC node, vendor, facilitator)
    │   └── ServiceUnavailable    …and may answer if tried again (`retryable`)
    └── JobFailed                 a job ran but could not do all of its work

Errors of one service are named for it (`DiscordRejected`, `BalanceError`, …) and sit under
`ServiceError`; callers that only care whether to retry read `retryable`.
"""

from __future__ import annotations

import sys


class PaymentsError(Exception):
    """Base of every error this project raises on purpose. The CLI maps it to exit code 1."""


class ConfigError(PaymentsError):
    """Settings are missing or invalid. The CLI maps it to exit code 2."""


class UsageError(PaymentsError):
    """A command given arguments it cannot use (a malformed id, a missing --file). Exit code 2."""


class InvalidInput(PaymentsError, ValueError):
    """Input that the contract rejects; the message names the value and the rule."""


class InvalidMoney(InvalidInput):
    """A money value that the contract (§3) rejects."""


class InvalidRecord(InvalidInput):
    """A record that does not satisfy the contract (§4)."""


class LedgerError(PaymentsError):
    """A ledger file could not be read or appended to (I/O, permissions)."""


class InsufficientFunds(LedgerError):
    """A debit larger than the wallet's balance."""


class PaymentRefused(PaymentsError):
    """An operation the rules, the lifecycle or the approval do not allow; no money moved, nothing written."""


class ServiceError(PaymentsError):
    """An outside service failed; `retryable` says whether the same call may succeed later."""

    retryable = False


class ServiceUnavailable(ServiceError):
    """Timeout, connection error, 429 or 5xx through every try: worth trying again later."""

    retryable = True


class DiscordError(ServiceError):
    """A Discord message could not be delivered."""


class DiscordRejected(DiscordError):
    """Discord refused the message (4xx other than 429): retrying cannot help."""


class DiscordUnavailable(DiscordError, ServiceUnavailable):
    """Discord kept answering 429/5xx or could not be reached, through every try."""


class BalanceError(ServiceError):
    """The RPC node could not tell a balance (network, HTTP or JSON-RPC error)."""


class VendorLookupError(ServiceError):
    """A vendor's capabilities could not be fetched (network, bad answer)."""


class JobFailed(PaymentsError):
    """The job ran but could not do all of its work (a message that Discord would not take)."""


def database_failure_of(exc: BaseException) -> LedgerError | None:
    """A connection-level PostgreSQL failure that reached the caller unwrapped (the server crashed or
    restarted under a cached connection: `psycopg.OperationalError`) as the store's own `LedgerError`,
    so it is retried and reported like one; None for anything else. psycopg is only looked up if it
    is loaded: one of its errors cannot exist otherwise (and the files store never imports it)."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None or not isinstance(exc, psycopg.OperationalError):
        return None
    from genesis_payments.postgres.connection import database_failure

    return database_failure(exc, "during the operation")
