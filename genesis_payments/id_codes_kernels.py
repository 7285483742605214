"""The compiled hash table of `id_codes` (numba; imported on first use, machine code cached).

`slots` holds code + 1 (0 is an empty slot) at the position of the id's hash, probing linearly;
the ids themselves are `arena[offsets[c]:offsets[c + 1]]` for code c.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(nogil=True, cache=True, boundscheck=False)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@_jit
def encode(values, value_offsets, slots, arena, offsets, count, codes):
    """Codes of the strings `values[value_offsets[i]:value_offsets[i + 1]]` into `codes`; new ones are
    appended to the arena (the caller made room). Returns the new count of ids."""
    mask = len(slots) - 1
    for i in range(len(codes)):
        start, end = value_offsets[i], value_offsets[i + 1]
        slot = _hash(values, start, end) & mask
        while True:
            code = slots[slot] - 1
            if code < 0:  # an id not seen before
                at = offsets[count]
                for p in range(start, end):
                    arena[at] = values[p]
                    at += 1
                offsets[count + 1] = at
                slots[slot] = count + 1
                codes[i] = count
                count += 1
                break
            if _same(arena, offsets[code], offsets[code + 1], values, start, end):
                codes[i] = code
                break
            slot = (slot + 1) & mask
    return count


@_jit
def rehash(arena, offsets, count, slots):
    """Place codes 0…count-1 in an empty table."""
    mask = len(slots) - 1
    for code in range(count):
        slot = _hash(arena, offsets[code], offsets[code + 1]) & mask
        while slots[slot]:
            slot = (slot + 1) & mask
        slots[slot] = code + 1


@_jit
def _hash(data, start, end):
    """FNV-1a over 8-byte words (then the tail bytes), mixed at the end; non-negative."""
    value = _FNV_OFFSET
    p = start
    while p + 8 <= end:
        word = np.uint64(0)
        for k in range(8):
            word |= np.uint64(data[p + k]) << np.uint64(8 * k)
        value = (value ^ word) * _FNV_PRIME
        p += 8
    while p < end:
        value = (value ^ np.uint64(data[p])) * _FNV_PRIME
        p += 1
    value ^= value >> np.uint64(29)
    value *= np.uint64(0xBF58476D1CE4E5B9)
    value ^= value >> np.uint64(32)
    return np.int64(value >> np.uint64(1))


@_jit
def _same(a, a_start, a_end, b, b_start, b_end):
    if a_end - a_start != b_end - b_start:
        return False
    for k in range(a_end - a_start):
        if a[a_start + k] != b[b_start + k]:
            return False
    return True
