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
        """Each id's code (new ids get the next codes)."""
        codes, names = self._codes, self.ids
        out = np.empty(len(ids), dtype=np.int64)
        for k, pid in enumerate(ids.to_pylist()):
            code = codes.get(pid)
            if code is None:
                code = codes[pid] = len(names)
                names.append(pid)
            out[k] = code
        return out
