"""The small hierarchy of errors every layer raises; each message says what, where and what to do."""


class PaymentsError(Exception):
    """Base of every error this project raises on purpose. The CLI maps it to exit code 1."""


class ConfigError(PaymentsError):
    """Settings are missing or invalid. The CLI maps it to exit code 2."""


class UsageError(PaymentsError):
    """A command given arguments it cannot use (a negative amount, a malformed id). Exit code 2."""


class InvalidMoney(PaymentsError, ValueError):
    """A money value that the contract (§3) rejects."""


class InvalidRecord(PaymentsError, ValueError):
    """A record that does not satisfy the contract (§4)."""


class LedgerError(PaymentsError):
    """A ledger file could not be read or appended to (I/O, permissions)."""
