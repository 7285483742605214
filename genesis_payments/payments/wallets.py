"""Fake wallets (§5): agent → USDC balance in `data/a2a-x402/fake/wallets.json`.

The fake facilitator debits them on settle and `monitor-alerts` and the exporter read them. Writes
hold a lock file and replace the file atomically, so concurrent settles never lose a debit.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from genesis_payments.core.errors import InsufficientFunds, InvalidMoney, LedgerError
from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.money import format_usd, parse_usd


class FakeWallets:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def balances(self) -> dict[str, Decimal]:
        """Every agent's balance; an unreadable amount is a LedgerError naming the agent."""
        raw = read_json_file(self.path, default={})
        if not isinstance(raw, dict):
            raise LedgerError(f"{self.path} must hold a JSON object of agent → money string")
        balances: dict[str, Decimal] = {}
        for agent, value in raw.items():
            try:
                balances[agent] = parse_usd(value)
            except InvalidMoney as exc:
                raise LedgerError(f"{self.path}: balance of {agent!r}: {exc}") from None
        return balances

    def balance(self, agent: str) -> Decimal:
        return self.balances().get(agent, Decimal(0))

    def set_balances(self, balances: Mapping[str, Decimal]) -> None:
        with self._lock():
            current = self.balances()
            current.update(balances)
            self._write(current)

    def debit(self, agent: str, amount: Decimal) -> Decimal:
        """Take `amount` from the agent's wallet; return the new balance."""
        with self._lock():
            current = self.balances()
            balance = current.get(agent, Decimal(0))
            if amount > balance:
                raise InsufficientFunds(f"wallet of {agent!r} holds {format_usd(balance)}, needs {format_usd(amount)}")
            current[agent] = balance - amount
            self._write(current)
            return current[agent]

    def _write(self, balances: Mapping[str, Decimal]) -> None:
        write_json_atomic(self.path, {agent: format_usd(value) for agent, value in sorted(balances.items())})

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
