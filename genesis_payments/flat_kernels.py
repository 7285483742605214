"""The compiled pass of `flat_lines` (numba): imported on first use, so only readers pay for the
compiler. `nogil` lets several threads read blocks at once; `cache` keeps the machine code beside
this file, so only the first process compiles it.

`starts`/`ends`/`numbers` are indexed [field, line] (each field's values contiguous).
"""

from __future__ import annotations

import numba
import numpy as np

ID, STR, TIME, USD, CAIP2, ENUM = range(6)
_MAX_ID = 256

_QUOTE, _COLON, _COMMA, _OPEN, _CLOSE, _NEWLINE, _BACKSLASH = 0x22, 0x3A, 0x2C, 0x7B, 0x7D, 0x0A, 0x5C
_DIGIT_0, _DOT, _DASH, _SPACE = 0x30, 0x2E, 0x2D, 0x20
_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_UNIX_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()
# Per byte, inside a JSON string: 0 plain, 1 the closing quote, 2 not plain (control, non-ASCII, backslash).
_IN_STRING = np.zeros(256, dtype=np.uint8)
_IN_STRING[:0x20] = 2
_IN_STRING[0x80:] = 2
_IN_STRING[_BACKSLASH] = 2
_IN_STRING[_QUOTE] = 1



_jit = numba.njit(nogil=True, cache=True, boundscheck=False)


@_jit
def scan_lines(buffer, start, end, key_bytes, key_lengths, key_field, kinds, required, enum_bytes, enum_lengths,
               enum_field, max_micro, max_line, copy_fields, line_ends, ok, starts, ends, numbers, copied,
               copied_offsets):
    """Scan every line; the values of `copy_fields` of each accepted line are also copied out, as
    Arrow string buffers (`copied_offsets[j]`, `copied[j]`) of the accepted lines in order, while
    the line is still in the CPU's cache (absent values are empty)."""
    line_start = start
    accepted = 0
    # follows[r] is the key table row that came after row r in the last line (the last index: the
    # first key of a line): lines from one writer repeat their key order, so it is tried first.
    follows = np.zeros(len(key_lengths) + 1, dtype=np.int64)
    for i in range(len(line_ends)):
        # A flat line ends right after its `}`: its newline is found by the scan itself.
        line_end = _scan_line(buffer, line_start, i, key_bytes, key_lengths, key_field, kinds, required,
                              enum_bytes, enum_lengths, enum_field, max_micro, starts, ends, numbers, follows)
        if line_end >= 0 and line_end - line_start <= max_line:
            ok[i] = True
            for j in range(len(copy_fields)):
                field = copy_fields[j]
                at = copied_offsets[j, accepted]
                if starts[field, i] >= 0:
                    for p in range(starts[field, i], ends[field, i]):
                        copied[j, at] = buffer[p]
                        at += 1
                copied_offsets[j, accepted + 1] = at
            accepted += 1
        else:
            line_end = line_start
            while buffer[line_end] != _NEWLINE:
                line_end += 1
        line_ends[i] = line_end
        line_start = line_end + 1


@_jit
def _scan_line(buffer, start, i, key_bytes, key_lengths, key_field, kinds, required, enum_bytes, enum_lengths,
               enum_field, max_micro, starts, ends, numbers, follows) -> int:
    """The line starting at `start`: the offset of its newline if it is flat and every value is
    canonical, else -1 (where it stopped reading is no guide to where the line ends)."""
    if buffer[start] != _OPEN:
        return -1
    p = start + 1
    seen = 0
    row = len(key_lengths)  # of the key table; the last index stands for the start of the line
    while True:
        if buffer[p] != _QUOTE:
            return -1
        key_start = p + 1
        p = _string_end(buffer, key_start)
        if p < 0:
            return -1
        found = _which(buffer, key_start, p, key_bytes, key_lengths, follows[row])
        if found < 0:
            return -1  # a field the record does not have
        follows[row] = found
        row = found
        field = key_field[row]
        if seen & (1 << field):
            return -1  # a repeated field
        seen |= 1 << field
        if buffer[p + 1] != _COLON or buffer[p + 2] != _QUOTE:
            return -1
        value_start = p + 3
        p = _string_end(buffer, value_start)
        if p < 0:
            return -1
        if not _check(buffer, value_start, p, field, i, kinds[field], enum_bytes, enum_lengths, enum_field,
                      max_micro, numbers):
            return -1
        starts[field, i] = value_start
        ends[field, i] = p
        p += 1
        if buffer[p] == _COMMA:
            p += 1
        elif buffer[p] == _CLOSE and buffer[p + 1] == _NEWLINE:
            return p + 1 if seen & required == required else -1
        else:
            return -1


@_jit
def _string_end(buffer, p) -> int:
    """The closing quote of a plain string starting at `p`; -1 at a byte that is not plain
    (control, non-ASCII, backslash — the line's newline is one, so a string never runs past it)."""
    while True:
        kind = _IN_STRING[buffer[p]]
        if kind:
            return p if kind == 1 else -1
        p += 1


@_jit
def _which(buffer, start, end, table, lengths, first) -> int:
    """The index of the word `buffer[start:end]` in the table, or -1; tried from index `first` on
    (a line's keys are usually in the table's order), wrapping round."""
    length = end - start
    count = len(lengths)
    k = first
    for _ in range(count):
        if k >= count:
            k = 0
        if lengths[k] == length:
            j = 0
            while j < length and buffer[start + j] == table[k, j]:
                j += 1
            if j == length:
                return k
        k += 1
    return -1


@_jit
def _check(buffer, start, end, field, i, kind, enum_bytes, enum_lengths, enum_field, max_micro,
           numbers) -> bool:
    length = end - start
    if kind == ID:
        if length < 1 or length > _MAX_ID:
            return False
        for p in range(start, end):
            if buffer[p] != _SPACE:
                return True
        return False  # only spaces: the exact validator words the reason
    if kind == STR:
        return True
    if kind == USD:
        return _money(buffer, start, end, field, i, max_micro, numbers)
    if kind == TIME:
        return _timestamp(buffer, start, end, field, i, numbers)
    if kind == CAIP2:
        return _caip2(buffer, start, end)
    code = _which(buffer, start, end, enum_bytes, enum_lengths, 0)
    if code < 0 or enum_field[code, 0] != field:
        return False
    numbers[field, i] = enum_field[code, 1]
    return True


@_jit
def _money(buffer, start, end, field, i, max_micro, numbers) -> bool:
    """`[0-9]{1,10}(.[0-9]{1,6})?` within the limit, as micro-USDC."""
    whole = 0
    p = start
    while p < end and _is_digit(buffer[p]):
        whole = whole * 10 + (buffer[p] - _DIGIT_0)
        p += 1
    if p == start or p - start > 10:
        return False
    fraction = 0
    places = 0
    if p < end:
        if buffer[p] != _DOT:
            return False
        p += 1
        while p < end and _is_digit(buffer[p]):
            fraction = fraction * 10 + (buffer[p] - _DIGIT_0)
            places += 1
            p += 1
        if p < end or places < 1 or places > 6:
            return False
    for _ in range(6 - places):
        fraction *= 10
    micro = whole * 1_000_000 + fraction
    if micro > max_micro:
        return False
    numbers[field, i] = micro
    return True


@_jit
def _timestamp(buffer, start, end, field, i, numbers) -> bool:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff](+00:00|Z)`, a real date from year 1, as µs since the epoch."""
    length = end - start
    if length == 20 or length == 27:
        if buffer[end - 1] != 0x5A:  # Z
            return False
        body = length - 1
    elif length == 25 or length == 32:
        if not (buffer[end - 6] == 0x2B and buffer[end - 5] == _DIGIT_0 and buffer[end - 4] == _DIGIT_0
                and buffer[end - 3] == _COLON and buffer[end - 2] == _DIGIT_0 and buffer[end - 1] == _DIGIT_0):
            return False
        body = length - 6
    else:
        return False
    s = start
    if not (buffer[s + 4] == _DASH and buffer[s + 7] == _DASH and buffer[s + 10] == 0x54
            and buffer[s + 13] == _COLON and buffer[s + 16] == _COLON):
        return False
    year = _number(buffer, s, 4)
    month = _number(buffer, s + 5, 2)
    day = _number(buffer, s + 8, 2)
    hour = _number(buffer, s + 11, 2)
    minute = _number(buffer, s + 14, 2)
    second = _number(buffer, s + 17, 2)
    micro = 0
    if body == 26:
        if buffer[s + 19] != _DOT:
            return False
        micro = _number(buffer, s + 20, 6)
    if min(year, month, day, hour, minute, second, micro) < 0:
        return False  # a non-digit
    if year < 1 or month < 1 or month > 12 or day < 1 or hour > 23 or minute > 59 or second > 59:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > _DAYS_IN_MONTH[month] + (1 if leap and month == 2 else 0):
        return False
    previous = year - 1
    ordinal = (previous * 365 + previous // 4 - previous // 100 + previous // 400
               + _DAYS_BEFORE_MONTH[month] + (1 if leap and month > 2 else 0) + day)
    days = ordinal - _UNIX_EPOCH_ORDINAL
    numbers[field, i] = ((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micro
    return True


@_jit
def _number(buffer, start, digits) -> int:
    """The decimal number of `digits` digits at `start`, or -1 if one is not a digit."""
    value = 0
    for p in range(start, start + digits):
        if not _is_digit(buffer[p]):
            return -1
        value = value * 10 + (buffer[p] - _DIGIT_0)
    return value


@_jit
def _is_digit(c) -> bool:
    return _DIGIT_0 <= c <= 0x39


@_jit
def _caip2(buffer, start, end) -> bool:
    """`[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}`."""
    p = start
    while p < end and (buffer[p] == _DASH or 0x61 <= buffer[p] <= 0x7A or _is_digit(buffer[p])):
        p += 1
    if p - start < 3 or p - start > 8 or p == end or buffer[p] != _COLON:
        return False
    p += 1
    reference = p
    while p < end:
        c = buffer[p]
        if not (c == _DASH or c == 0x5F or 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or _is_digit(c)):
            return False
        p += 1
    return 1 <= p - reference <= 32
