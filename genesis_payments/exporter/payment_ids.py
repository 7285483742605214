"""Every payment id the exporter has seen, with whether the payment is open or closed for good.

A terminal event closes a payment for good (`payment_tally`), so a closed id must be remembered for
as long as the log is: a late-written `authorized` for it must not reopen it. A Python set of a
million id strings costs about 100 MB and a fifth of a second to fill per million events; here the
ids are coded by `IdCodes` (one byte arena and a compiled, exact hash table) and the state is one
byte per code.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from genesis_payments.ledgers.id_codes import IdCodes

NEW, OPEN, CLOSED = 0, 1, 2


class PaymentIds:
    """The ids seen so far and their state (OPEN or CLOSED); `update` a block's distinct ids."""

    def __init__(self, capacity: int = 1024) -> None:
        self._codes = IdCodes(expected=capacity)
        self._state = np.zeros(capacity, dtype=np.int8)  # by code; NEW beyond the ids seen

    def __len__(self) -> int:
        return self._codes.count

    def update(self, ids: pa.Array, closing: np.ndarray) -> np.ndarray:
        """Each id's state before this call (NEW, OPEN or CLOSED); afterwards an id is CLOSED when
        `closing` says so or it was closed before, OPEN otherwise. `ids` must be distinct strings."""
        if not len(ids):
            return np.zeros(0, dtype=np.int8)
        codes = self._codes.encode(ids)
        if self._codes.count > len(self._state):
            grown = np.zeros(max(self._codes.count, 2 * len(self._state)), dtype=np.int8)
            grown[: len(self._state)] = self._state
            self._state = grown
        previous = self._state[codes]
        closed = np.asarray(closing, dtype=bool) | (previous == CLOSED)
        self._state[codes] = np.where(closed, CLOSED, OPEN)
        return previous
