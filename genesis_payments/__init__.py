"""Genesis payment operations: safe x402 spending for AI agents, and the ledgers that prove it."""

from genesis_payments.core.errors import ConfigError, InvalidMoney, InvalidRecord, LedgerError, PaymentsError
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.ledgers import BusinessMonitor, FinanceLedger

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
