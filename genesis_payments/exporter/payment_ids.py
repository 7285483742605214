"""Every payment id the exporter has seen, as a stable integer code (its index in the state machine's
`PaymentBook`): a terminal payment must be remembered for as long as the log is, so that a late
event cannot reopen it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


class PaymentIds:
    """Codes in order of first sight; `encode` a block's distinct ids."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self.ids: list[str] = []

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, ids: pa.Array) -> np.ndarray:
        """Each id's code (new ids get the next codes); `ids` are distinct."""
        names = ids.to_pylist()
        found = np.array(list(map(self._codes.get, names)), dtype=object)
        new = np.flatnonzero(found == None)  # noqa: E711  (elementwise: the ids not seen before)
        if len(new):
            start = len(self.ids)
            fresh = [names[k] for k in new.tolist()]
            self._codes.update(zip(fresh, range(start, start + len(fresh)), strict=True))
            self.ids.extend(fresh)
            found[new] = np.arange(start, start + len(fresh))
        return found.astype(np.int64)
