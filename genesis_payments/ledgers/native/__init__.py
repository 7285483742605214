"""The readers' compiled kernels: plain C (`flat_lines.c`, `id_codes.c`), built by `pip install`
(setup.py) and called through ctypes.

Why C and not a JIT: a reading job must stay small (ledger-sync over a million payments in under
400 MB), and a JIT compiler's runtime alone costs a reader ~100 MB before it reads a byte. ctypes
lets go of the GIL for each call, so blocks can be read on several threads at once.

Each function takes numpy arrays (C-contiguous, of the dtypes named) and checks nothing the caller
is trusted with: every array must have room for what it writes.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
from pathlib import Path

import numpy as np

_i64, _ptr = ctypes.c_int64, ctypes.c_void_p


class Record(ctypes.Structure):
    """`gp_record` of native.h: a record kind's tables for the flat pass."""

    _fields_ = [
        ("key_bytes", _ptr), ("key_width", _i64), ("key_lengths", _ptr), ("key_field", _ptr), ("key_count", _i64),
        ("kinds", _ptr), ("required", _i64),
        ("enum_bytes", _ptr), ("enum_width", _i64), ("enum_lengths", _ptr), ("enum_field", _ptr),
        ("enum_count", _i64), ("max_micro", _i64),
    ]


class Scan(ctypes.Structure):
    """`gp_scan` of native.h: where the flat pass writes one block's findings."""

    _fields_ = [
        ("lines", _i64), ("line_ends", _ptr), ("ok", _ptr), ("rows", _ptr), ("kept", _ptr), ("kept_count", _i64),
        ("starts", _ptr), ("ends", _ptr), ("numbers", _ptr),
        ("copy_fields", _ptr), ("copy_count", _i64), ("copied", _ptr), ("copied_stride", _i64),
        ("copied_offsets", _ptr),
        ("code_fields", _ptr), ("code_count", _i64), ("codes", _ptr), ("slots", _ptr), ("slot_count", _i64),
        ("hashes", _ptr), ("dict_offsets", _ptr), ("dict_bytes", _ptr), ("dict_counts", _ptr),
    ]


def _library() -> ctypes.CDLL:
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_kernels{suffix}"
        if path.exists():
            return ctypes.CDLL(str(path))
    raise ImportError(
        f"the compiled readers are not built in {here}: install the project with pip (it compiles "
        "genesis_payments/ledgers/native/*.c and needs a C compiler), e.g. `pip install -e .`"
    )


_lib = _library()
_lib.gp_scan_lines.argtypes = [_ptr, _i64, _i64, ctypes.POINTER(Record), _i64, ctypes.POINTER(Scan)]
_lib.gp_scan_lines.restype = _i64
_lib.gp_count_lines.argtypes = [_ptr, _i64, _i64]
_lib.gp_count_lines.restype = _i64
_lib.gp_encode_ids.argtypes = [_ptr, _ptr, _i64, _ptr, _i64, _ptr, _ptr, _ptr, _i64, _ptr]
_lib.gp_encode_ids.restype = _i64
_lib.gp_rehash_ids.argtypes = [_ptr, _i64, _ptr, _i64]
_lib.gp_rehash_ids.restype = None


def address(array: np.ndarray) -> int:
    if not array.flags.c_contiguous:
        raise ValueError("the compiled kernels take C-contiguous arrays")
    return array.ctypes.data


def scan_lines(buffer: np.ndarray, start: int, end: int, record: Record, max_line: int, scan: Scan) -> int:
    """The flat pass over the complete lines of buffer[start:end] (see flat_lines.c); returns how
    many lines it accepted."""
    return _lib.gp_scan_lines(address(buffer), start, end, ctypes.byref(record), max_line, ctypes.byref(scan))


def count_lines(data: bytes | np.ndarray, start: int, end: int) -> int:
    """How many newlines data[start:end] holds (bytes.count is several times slower)."""
    if not 0 <= start <= end <= len(data):
        raise ValueError(f"no bytes {start}:{end} in {len(data)}")
    return _lib.gp_count_lines(address(np.frombuffer(data, dtype=np.uint8)), start, end)


def encode_ids(values: np.ndarray, value_offsets: np.ndarray, slots: np.ndarray, arena: np.ndarray,
               offsets: np.ndarray, hashes: np.ndarray, count: int, codes: np.ndarray) -> int:
    """Codes of the strings values[value_offsets[i]:value_offsets[i + 1]] into `codes` (see id_codes.c);
    returns the new count of ids."""
    count = _lib.gp_encode_ids(address(values), address(value_offsets), len(codes), address(slots), len(slots),
                               address(arena), address(offsets), address(hashes), count, address(codes))
    if count < 0:
        raise MemoryError("no memory to hash the ids of one block")
    return count


def rehash_ids(hashes: np.ndarray, count: int, slots: np.ndarray) -> None:
    """Place codes 0…count-1 in the empty table `slots`."""
    _lib.gp_rehash_ids(address(hashes), count, address(slots), len(slots))
