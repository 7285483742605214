"""Genesis payment operations: safe x402 spending for AI agents, and the ledgers that prove it."""

from genesis_payments.errors import ConfigError, InvalidMoney, InvalidRecord, LedgerError, PaymentsError
from genesis_payments.ledgers import BusinessMonitor, FinanceLedger
from genesis_payments.settings import Settings

__all__ = [
    "BusinessMonitor",
    "ConfigError",
    "FinanceLedger",
    "InvalidMoney",
    "InvalidRecord",
    "LedgerError",
    "PaymentsError",
    "Settings",
]
