"""The compiled hash table of `id_codes` (numba; imported on first use, machine code cached).

`slots` holds code + 1 (0 is an empty slot) at the position of the id's hash, probing linearly;
the ids themselves are `arena[offsets[c]:offsets[c + 1]]` for code c, and `hashes[c]` their hashes.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(nogil=True, cache=True, boundscheck=False)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@_jit
def encode(values, value_offsets, slots, arena, offsets, hashes, count, codes):
    """Codes of the strings `values[value_offsets[i]:value_offsets[i + 1]]` into `codes`; new ones are
    appended to the arena (the caller made room). Returns the new count of ids."""
    mask = len(slots) - 1
    # Every hash first: a hash's chain of multiplies in the same loop as the table's cache misses
    # keeps the CPU from overlapping the misses.
    wanted = np.empty(len(codes), dtype=np.uint64)
    for i in range(len(codes)):
        wanted[i] = _hash(values, value_offsets[i], value_offsets[i + 1])
    for i in range(len(codes)):
        start, end = value_offsets[i], value_offsets[i + 1]
        h = wanted[i]
        slot = np.int64(h & np.uint64(mask))
        while True:
            code = slots[slot] - 1
            if code < 0:  # an id not seen before
                at = offsets[count]
                for p in range(start, end):
                    arena[at] = values[p]
                    at += 1
                offsets[count + 1] = at
                hashes[count] = h
                slots[slot] = count + 1
                codes[i] = count
                count += 1
                break
            if hashes[code] == h and _same(arena, offsets[code], offsets[code + 1], values, start, end):
                codes[i] = code
                break
            slot = (slot + 1) & mask
    return count


@_jit
def rehash(hashes, count, slots):
    """Place codes 0…count-1 in an empty table."""
    mask = len(slots) - 1
    for code in range(count):
        slot = np.int64(hashes[code] & np.uint64(mask))
        while slots[slot]:
            slot = (slot + 1) & mask
        slots[slot] = code + 1


@_jit
def _hash(data, start, end):
    """FNV-1a over the bytes, then a final mix (linear probing wants the low bits spread)."""
    value = _FNV_OFFSET
    for p in range(start, end):
        value = (value ^ np.uint64(data[p])) * _FNV_PRIME
    value ^= value >> np.uint64(33)
    value *= np.uint64(0xFF51AFD7ED558CCD)
    value ^= value >> np.uint64(33)
    return value


@_jit
def _same(a, a_start, a_end, b, b_start, b_end):
    if a_end - a_start != b_end - b_start:
        return False
    for k in range(a_end - a_start):
        if a[a_start + k] != b[b_start + k]:
            return False
    return True
