"""Every payment id a reader of the transaction log has seen, as a stable integer code (its index in the state machine's
`PaymentBook`): a terminal payment must be remembered for as long as the log is, so that a late
event cannot reopen it.

After a warm start (§5) the codes read from the checkpoint are not Python objects: they stay in the
memory-mapped checkpoint as the ids in code order plus their 64-bit keys (pandas' SipHash of the id,
fixed key) sorted, with the code of each; a block's unknown ids are looked up there with one
`searchsorted` and confirmed by comparing the ids themselves (two ids may share a key). Ids first
seen since then are in `ids` (codes from `frozen_count` on)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def id_keys(ids: list[str] | np.ndarray) -> np.ndarray:
    """The 64-bit key of each id: stable across processes (SipHash with pandas' fixed key)."""
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


class PaymentIds:
    """Codes in order of first sight; `encode` a block's distinct ids."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self.ids: list[str] = []
        self.frozen_count = 0
        self._frozen_ids = pa.array([], pa.string())
        self._frozen_keys = np.zeros(0, dtype=np.uint64)
        self._frozen_codes = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self.frozen_count + len(self.ids)

    def id_of(self, code: int) -> str:
        if code < self.frozen_count:
            return self._frozen_ids[code].as_py()
        return self.ids[code - self.frozen_count]

    def encode(self, ids: pa.Array) -> np.ndarray:
        """Each id's code (new ids get the next codes); `ids` are distinct."""
        names = ids.to_pylist()
        found = np.array(list(map(self._codes.get, names)), dtype=object)
        new = np.flatnonzero(found == None)  # noqa: E711  (elementwise: the ids not seen before)
        if len(new) and self.frozen_count:
            codes = self._find_frozen([names[k] for k in new.tolist()])
            known = codes >= 0
            found[new[known]] = codes[known]
            new = new[~known]
        if len(new):
            start = len(self)
            fresh = [names[k] for k in new.tolist()]
            self._codes.update(zip(fresh, range(start, start + len(fresh)), strict=True))
            self.ids.extend(fresh)
            found[new] = np.arange(start, start + len(fresh))
        return found.astype(np.int64)

    def _find_frozen(self, names: list[str]) -> np.ndarray:
        """The frozen code of each id, -1 where it is not among them."""
        keys = id_keys(names)
        at = np.minimum(np.searchsorted(self._frozen_keys, keys), len(self._frozen_keys) - 1)
        codes = np.where(self._frozen_keys[at] == keys, self._frozen_codes[at], -1)
        hit = np.flatnonzero(codes >= 0)
        if len(hit):
            same = pc.equal(self._frozen_ids.take(pa.array(codes[hit])), pa.array([names[k] for k in hit.tolist()]))
            for k in hit[~same.to_numpy(zero_copy_only=False)].tolist():  # a shared key: look at its neighbours
                codes[k] = self._find_one(names[k], keys[k], int(at[k]))
        return codes

    def _find_one(self, name: str, key: np.uint64, at: int) -> int:
        while at < len(self._frozen_keys) and self._frozen_keys[at] == key:
            code = int(self._frozen_codes[at])
            if self._frozen_ids[code].as_py() == name:
                return code
            at += 1
        return -1

    # -- checkpoint ------------------------------------------------------------------------------

    def to_columns(self) -> dict[str, pa.Array | np.ndarray]:
        """Every id in code order, and the keys sorted with each one's code (`from_columns` reads them)."""
        ids = pa.concat_arrays([self._frozen_ids, pa.array(self.ids, pa.string())])
        new_keys = id_keys(self.ids)
        order = np.argsort(new_keys, kind="stable")  # only the new ids are sorted; then merged in
        new_keys = new_keys[order]
        new_codes = np.arange(self.frozen_count, len(self), dtype=np.int64)[order]
        at = np.searchsorted(self._frozen_keys, new_keys, "right")
        return {"payment_id": ids, "id_key": np.insert(self._frozen_keys, at, new_keys),
                "id_code": np.insert(self._frozen_codes, at, new_codes)}

    @classmethod
    def from_columns(cls, ids: pa.Array, keys: np.ndarray, codes: np.ndarray) -> PaymentIds:
        found = cls()
        found._frozen_ids, found._frozen_keys, found._frozen_codes = ids, keys, codes
        found.frozen_count = len(ids)
        return found
