"""Every payment id the exporter has seen, with whether the payment is open or closed for good.

A terminal event closes a payment for good (`payment_tally`), so a closed id must be remembered for
as long as the log is: a late-written `authorized` for it must not reopen it. A Python set of a
million id strings costs about 100 MB and a fifth of a second to fill per million events; here the
ids live in one byte arena and an open-addressing hash table of numpy arrays, filled and probed a
block at a time in compiled code (numba, like the ledger reader). Look-ups compare the bytes, not
only the hash, so the answer is exact.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

NEW, OPEN, CLOSED = 0, 1, 2

_jit = numba.njit(nogil=True, cache=True, boundscheck=False)
_EMPTY = -1


@_jit
def _hash(data, start, end):
    """FNV-1a over the bytes, then a final mix (linear probing wants the low bits spread)."""
    h = np.uint64(0xCBF29CE484222325)
    for p in range(start, end):
        h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


@_jit
def _hashes(offsets, data):
    out = np.empty(len(offsets) - 1, dtype=np.uint64)
    for i in range(len(out)):
        out[i] = _hash(data, offsets[i], offsets[i + 1])
    return out


@_jit
def _upsert(slots, entry_hash, entry_start, entry_len, entry_state, arena, used, offsets, data, closing, previous):
    """For each id `data[offsets[i]:offsets[i + 1]]`: its state before (into `previous`), then its new
    state — CLOSED when `closing[i]` or already closed, else OPEN. New ids are appended to the
    entries and the arena. `used` holds [entries, arena bytes] and is updated. The caller has made
    room: entries and arena large enough, the table at most half full afterwards."""
    mask = len(slots) - 1
    entries = used[0]
    arena_used = used[1]
    # All hashes first: a hash's serial multiplies in the same loop as the table's cache misses keep
    # the CPU from overlapping the misses (measured: 4x slower).
    hashes = _hashes(offsets, data)
    for i in range(len(offsets) - 1):
        start = offsets[i]
        end = offsets[i + 1]
        length = end - start
        h = hashes[i]
        slot = np.int64(h & np.uint64(mask))
        while True:
            ref = slots[slot]
            if ref == _EMPTY:
                ref = entries
                entries += 1
                slots[slot] = ref
                entry_hash[ref] = h
                entry_start[ref] = arena_used
                entry_len[ref] = length
                for p in range(length):
                    arena[arena_used + p] = data[start + p]
                arena_used += length
                previous[i] = NEW
                entry_state[ref] = CLOSED if closing[i] else OPEN
                break
            if entry_hash[ref] == h and entry_len[ref] == length:
                at = entry_start[ref]
                same = True
                for p in range(length):
                    if arena[at + p] != data[start + p]:
                        same = False
                        break
                if same:
                    previous[i] = entry_state[ref]
                    if closing[i]:
                        entry_state[ref] = CLOSED
                    break
            slot = (slot + 1) & mask
    used[0] = entries
    used[1] = arena_used


@_jit
def _rehash(slots, entry_hash, entries):
    mask = len(slots) - 1
    for ref in range(entries):
        slot = np.int64(entry_hash[ref] & np.uint64(mask))
        while slots[slot] != _EMPTY:
            slot = (slot + 1) & mask
        slots[slot] = ref


class PaymentIds:
    """The ids seen so far and their state (OPEN or CLOSED); `update` a block's distinct ids."""

    def __init__(self, capacity: int = 1024) -> None:
        self._used = np.zeros(2, dtype=np.int64)  # entries, arena bytes
        self._slots = np.full(_power_of_two(2 * capacity), _EMPTY, dtype=np.int64)
        self._hash = np.zeros(capacity, dtype=np.uint64)
        self._start = np.zeros(capacity, dtype=np.int64)
        self._len = np.zeros(capacity, dtype=np.int64)
        self._state = np.zeros(capacity, dtype=np.int8)
        self._arena = np.zeros(16 * capacity, dtype=np.uint8)

    def __len__(self) -> int:
        return int(self._used[0])

    def update(self, ids: pa.Array, closing: np.ndarray) -> np.ndarray:
        """Each id's state before this call (NEW, OPEN or CLOSED); afterwards an id is CLOSED when
        `closing` says so or it was closed before, OPEN otherwise. `ids` must be distinct strings."""
        count = len(ids)
        previous = np.zeros(count, dtype=np.int8)
        if not count:
            return previous
        offsets, data = _string_buffers(ids)
        self._reserve(count, int(offsets[-1] - offsets[0]))
        _upsert(self._slots, self._hash, self._start, self._len, self._state, self._arena, self._used,
                offsets, data, np.ascontiguousarray(closing, dtype=np.bool_), previous)
        return previous

    def _reserve(self, ids: int, id_bytes: int) -> None:
        entries, arena_used = (int(x) for x in self._used)
        if entries + ids > len(self._hash):
            size = max(2 * len(self._hash), entries + ids)
            for name in ("_hash", "_start", "_len", "_state"):
                old = getattr(self, name)
                new = np.zeros(size, dtype=old.dtype)
                new[:entries] = old[:entries]
                setattr(self, name, new)
        if arena_used + id_bytes > len(self._arena):
            arena = np.zeros(max(2 * len(self._arena), arena_used + id_bytes), dtype=np.uint8)
            arena[:arena_used] = self._arena[:arena_used]
            self._arena = arena
        if 2 * (entries + ids) > len(self._slots):
            self._slots = np.full(_power_of_two(4 * (entries + ids)), _EMPTY, dtype=np.int64)
            _rehash(self._slots, self._hash, entries)


def _string_buffers(ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The int32 offsets (rebased to this array's slice) and the bytes of a string array."""
    if ids.type != pa.string():
        ids = ids.cast(pa.string())
    if ids.null_count:
        raise ValueError("payment ids cannot be null")
    _, offsets_buffer, data_buffer = ids.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[ids.offset: ids.offset + len(ids) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data


def _power_of_two(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())
