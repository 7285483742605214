"""IdCodes: one dense code per distinct id, in order of first sight, stable as the table grows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genesis_payments.ledgers.id_codes import IdCodes


def reference(batches: list[list[str]]) -> tuple[list[np.ndarray], list[str]]:
    seen: dict[str, int] = {}
    out = [np.array([seen.setdefault(i, len(seen)) for i in batch], dtype=np.int32) for batch in batches]
    return out, list(seen)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="ab\u00e9 _-", max_size=20), max_size=60), max_size=6))
def test_codes_match_first_sight_order_across_batches(batches) -> None:
    codes = IdCodes(expected=1)  # starts tiny, so the arena, the offsets and the table all grow
    got = [codes.encode(pa.array(batch, pa.string())) for batch in batches]
    want, ids = reference(batches)
    for g, w in zip(got, want, strict=True):
        assert g.tolist() == w.tolist()
    assert codes.ids().to_pylist() == ids


def test_a_hundred_thousand_ids_keep_their_codes_and_views_taken_earlier_stay_valid() -> None:
    codes = IdCodes(expected=16)
    ids = [f"pay_{n:08x}" for n in range(100_000)]
    first = codes.encode(pa.array(ids[:1000]))
    early = codes.ids()  # a view; later growth must not change it
    codes.encode(pa.chunked_array([pa.array(ids[i: i + 7000]) for i in range(0, 100_000, 7000)]))
    again = codes.encode(pa.array(ids[::-1]))
    assert first.tolist() == list(range(1000))
    assert again.tolist() == list(range(99_999, -1, -1))
    assert early.to_pylist() == ids[:1000]
    assert codes.count == 100_000 and codes.ids().to_pylist() == ids


def test_ids_that_share_bytes_are_told_apart() -> None:
    codes = IdCodes()
    batch = ["a", "aa", "", "a\u0000", "ab", "ba", "a" * 300, "a" * 301, "aa"]
    assert codes.encode(pa.array(batch)).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 1]


def test_a_frame_column_is_an_arrow_dictionary_over_the_ids() -> None:
    codes = IdCodes()
    column = codes.column(codes.encode(pa.array(["p1", "p2", "p1"])))
    assert list(column) == ["p1", "p2", "p1"]


def test_string_large_string_and_sliced_arrays_give_the_same_codes() -> None:
    ids = ["x", "yy", "x", "zzz", "yy"]
    codes = IdCodes()
    assert codes.encode(pa.array(ids, pa.string())).tolist() == [0, 1, 0, 2, 1]
    assert codes.encode(pa.array(ids, pa.large_string()).slice(1)).tolist() == [1, 0, 2, 1]
    assert codes.encode(pa.array(["w", *ids]).slice(2, 3).cast(pa.string_view())).tolist() == [1, 0, 2]
    assert codes.ids().to_pylist() == ["x", "yy", "zzz"]


def test_null_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="null"):
        IdCodes().encode(pa.array(["a", None]))
