"""Dense integer codes for ids, shared by readers so that two ledgers' codes name the same ids.

Reconciling a million payments groups millions of rows by `payment_id`. Keeping every row's id as a
string costs ~30 bytes a row and a hash of all of them at the end; instead each block's ids are
coded as it is read (a compiled open-addressing hash table over one byte arena), so a frame holds a
4-byte code per row and each distinct id is stored once. Codes are given in order of first sight,
so the ids of codes 0…n-1 never change as more are added: a frame read earlier stays valid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from genesis_payments.ledgers import native


class IdCodes:
    def __init__(self, expected: int = 1 << 16) -> None:
        self._slots = np.zeros(_table_size(expected), dtype=np.int32)  # code + 1; 0 is empty
        self._bytes = np.empty(max(1 << 16, expected * 32), dtype=np.uint8)
        self._offsets = np.zeros(expected + 1, dtype=np.int64)
        self._hashes = np.zeros(expected, dtype=np.uint64)
        self.count = 0

    def encode(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The code of each id (int32), giving new ids the next codes. Ids must not be null."""
        chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
        parts = []
        for chunk in chunks:
            if chunk.null_count:
                raise ValueError("ids to code must not be null")
            if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
                chunk = chunk.cast(pa.large_string())
            # The kernel takes int64 offsets: a string array's int32 ones are widened (not its bytes copied).
            width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
            offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
            offsets = offsets.astype(np.int64, copy=False)
            data = chunk.buffers()[2]
            values = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
            self._reserve(len(chunk), int(offsets[-1] - offsets[0]))
            codes = np.empty(len(chunk), dtype=np.int32)
            self.count = native.encode_ids(values, offsets, self._slots, self._bytes, self._offsets, self._hashes,
                                           self.count, codes)
            parts.append(codes)
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def ids(self) -> pa.Array:
        """The id of each code so far, as a string array indexed by code.

        A view of the table's own bytes, not a copy: what is stored for codes 0…count-1 never
        changes (growing moves it to a new array and leaves the old one to its views).
        """
        used = int(self._offsets[self.count])
        return pa.Array.from_buffers(
            pa.large_string(), self.count,
            [None, pa.py_buffer(self._offsets[: self.count + 1]), pa.py_buffer(self._bytes[:used])],
        )

    def column(self, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """`codes` as a pandas column of Arrow dictionary type over the ids coded so far.

        Not a `pd.Categorical`: that checks its categories are unique by building a Python string
        and a hash entry for each (over 100 MB for a million ids), and they are unique by making.
        """
        return pd.arrays.ArrowExtensionArray(pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), self.ids()))

    def _reserve(self, more_ids: int, more_bytes: int) -> None:
        needed = self.count + more_ids
        # The compiled table writes without bounds checks: every array must have room first.
        if needed + 1 > len(self._offsets):
            self._offsets = _grown(self._offsets, needed + 1)
        if needed > len(self._hashes):
            self._hashes = _grown(self._hashes, needed)
        used = int(self._offsets[self.count])
        if used + more_bytes > len(self._bytes):
            self._bytes = _grown(self._bytes, used + more_bytes)
        if needed * 2 > len(self._slots):  # at most half full, so a probe ends soon
            # Grown fourfold: each rehash touches every id so far, so fewer of them pay.
            self._slots = np.zeros(_table_size(2 * needed), dtype=np.int32)
            native.rehash_ids(self._hashes, self.count, self._slots)


def _table_size(ids: int) -> int:
    return 1 << max(10, (2 * max(ids, 1) - 1).bit_length())


def _grown(array: np.ndarray, needed: int) -> np.ndarray:
    bigger = np.empty(max(needed, 2 * len(array)), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
