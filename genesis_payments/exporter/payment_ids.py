"""Every payment id the exporter has seen, with whether the payment is open or closed for good.

A terminal event closes a payment for good (`payment_tally`), so a closed id must be remembered for
as long as the log is: a late-written `authorized` for it must not reopen it. The ids are a pandas
index over Arrow strings (hashed by pandas, no Python string per id) and the state one byte per id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

NEW, OPEN, CLOSED = 0, 1, 2


class PaymentIds:
    """The ids seen so far and their state (OPEN or CLOSED); `update` a block's distinct ids."""

    def __init__(self) -> None:
        self._index = pd.Index(pd.array([], dtype="string[pyarrow]"))
        self._state = np.zeros(0, dtype=np.int8)

    def __len__(self) -> int:
        return len(self._index)

    def update(self, ids: pa.Array, closing: np.ndarray) -> np.ndarray:
        """Each id's state before this call (NEW, OPEN or CLOSED); afterwards an id is CLOSED when
        `closing` says so or it was closed before, OPEN otherwise. `ids` must be distinct strings."""
        if not len(ids):
            return np.zeros(0, dtype=np.int8)
        block = pd.Index(pd.arrays.ArrowStringArray(ids.cast(pa.string())))
        positions = self._index.get_indexer(block)
        new = positions < 0
        if new.any():
            start = len(self._index)
            self._index = self._index.append(block[new])
            self._state = np.concatenate([self._state, np.full(int(new.sum()), NEW, dtype=np.int8)])
            positions[new] = np.arange(start, len(self._index))
        previous = self._state[positions]
        closed = np.asarray(closing, dtype=bool) | (previous == CLOSED)
        self._state[positions] = np.where(closed, CLOSED, OPEN)
        return previous
