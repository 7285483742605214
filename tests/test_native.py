"""The compiled helpers of `genesis_payments.ledgers.native` that the readers' tests don't reach directly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.ledgers import native


@given(data=st.binary(max_size=600).map(lambda b: b.replace(b"x", b"\n")), cut=st.tuples(st.integers(0, 600),
                                                                                        st.integers(0, 600)))
def test_count_lines_counts_as_bytes_count_does(data: bytes, cut: tuple[int, int]) -> None:
    start, end = sorted(min(c, len(data)) for c in cut)
    assert native.count_lines(data, start, end) == data.count(b"\n", start, end)


@pytest.mark.parametrize("length", [0, 15, 16, 17, 4079, 4080, 4081, 16 * 255 * 3 + 5, 100_000])
def test_count_lines_never_wraps_its_per_byte_counters(length: int) -> None:
    # Every byte a newline: the SIMD path's byte-wide counters are summed before 255.
    assert native.count_lines(b"\n" * length, 0, length) == length
    assert native.count_lines(b"a" + b"\n" * length, 1, length + 1) == length


def test_count_lines_refuses_a_range_outside_the_data() -> None:
    with pytest.raises(ValueError, match="no bytes 2:9 in 4"):
        native.count_lines(b"ab\nc", 2, 9)
