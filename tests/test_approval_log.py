"""`chained_line`: the fast encodings of a decision give exactly the bytes `audit verify` recomputes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesis_payments.approval_log import chained_line
from genesis_payments.jsonl import canonical_json

_KEYS = st.text(min_size=1, max_size=8).filter(lambda k: k != "hash")
_FLAT_VALUES = st.one_of(st.text(max_size=20), st.lists(st.text(max_size=10), max_size=3))


def _expected(body: dict) -> tuple[str, bytes]:
    digest = hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
    return digest, (canonical_json({**body, "hash": digest}) + "\n").encode("utf-8")


@given(st.dictionaries(_KEYS, _FLAT_VALUES, max_size=8), st.booleans())
def test_flat_chained_line_is_the_canonical_line_with_its_hash(body, in_order):
    # Sorted keys take pydantic-core's encoder, others the json one; both must equal canonical_json.
    body = dict(sorted(body.items())) if in_order else dict(reversed(list(body.items())))
    try:
        expected = _expected(body)
    except UnicodeEncodeError:  # a lone surrogate cannot be written at all: neither path may
        with pytest.raises(UnicodeEncodeError):
            chained_line(body, flat=True)
        return
    assert chained_line(body, flat=True) == expected
    assert chained_line(body) == expected


def test_control_characters_and_non_ascii_text_are_escaped_as_canonical_json():
    body = {"agent": "a\u0000\u001f\u007f\"\\\n\t/é€😀\u2028", "intent_id": "i", "reasons": ["x\u0008", "ü"], "ts": "t"}
    assert chained_line(body, flat=True) == _expected(body)


def test_nested_values_take_the_general_path():
    body = {"a": {"b": ["c", {"d": "e"}]}, "z": "y"}
    assert chained_line(body) == _expected(body)


def test_a_lone_surrogate_is_refused_rather_than_written():
    with pytest.raises(UnicodeEncodeError):
        chained_line({"agent": "\ud800", "ts": "t"}, flat=True)
