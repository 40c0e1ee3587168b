"""An exception's details are kept as json.dumps(details, default=str, ensure_ascii=False)
writes them, byte for byte, whichever way they are written (msgspec where it writes the
same, json otherwise): text of any kind (accents, control characters, a lone surrogate),
money as Decimal (NaN too), floats, moments, nested dicts and lists, keys that are not text.
And they are read back as json.loads reads them, to the type of each value."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from target_khaos_control.exception_details import details_of, details_text

# Any character, and those json escapes: a NUL, a control character, a lone surrogate, U+2028.
ODD = st.sampled_from(["\x00", "\x1f", "\x7f", "\b", "\ud800", "\udfff", "\u2028", '"', "\\"])
TEXT = st.lists(st.characters() | ODD, max_size=8).map("".join)
PLAIN = (
    TEXT
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**65)  # past 64 bits
    | st.booleans()
    | st.none()
    | st.decimals(allow_nan=True, allow_infinity=True)
)
KEYS = TEXT | st.integers() | st.booleans() | st.none() | st.floats()


def _nested(values: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        values,
        lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


def _as_stored(details: object) -> str:
    return json.dumps(details, default=str, ensure_ascii=False)


@given(st.dictionaries(TEXT, _nested(PLAIN, TEXT), max_size=8))
def test_plain_details_are_kept_as_json_dumps_writes_them(details: dict[str, Any]) -> None:
    assert details_text(details) == _as_stored(details)


# floats msgspec writes its own way (1e16, NaN as null): text here without a lone
# surrogate, so that msgspec is tried on most of them
@given(st.dictionaries(st.text(), _nested(st.floats() | st.integers() | st.text(), st.text()), max_size=6))
def test_details_with_floats_are_kept_as_json_dumps_writes_them(details: dict[str, Any]) -> None:
    assert details_text(details) == _as_stored(details)


# moments and sets msgspec writes its own way (RFC 3339, a list)
@given(
    st.dictionaries(TEXT, _nested(PLAIN | st.datetimes(timezones=st.just(UTC)) | st.frozensets(st.integers()), TEXT))
)
def test_details_with_moments_or_sets_are_kept_as_json_dumps_writes_them(details: dict[str, Any]) -> None:
    assert details_text(details) == _as_stored(details)


@given(st.dictionaries(KEYS, _nested(PLAIN, KEYS), max_size=6))
def test_details_keyed_by_more_than_text_are_kept_as_json_dumps_writes_them(details: dict[Any, Any]) -> None:
    assert details_text(details) == _as_stored(details)


class Colour(StrEnum):
    RED = "red"


def test_the_details_msgspec_would_write_its_own_way_are_kept_as_json_writes_them() -> None:
    # given a return's details with a field too long, then each odd value in turn
    details: dict[str, Any] = {
        "field": "InvoiceAddress.Line1",
        "length": 42,
        "limit": 35,
        "price": Decimal("18.25"),
        "source_order": {"AssociatedRef": "5123400000", "lines": [1, (2, "é")]},
    }
    assert details_text(details) == (
        '{"field": "InvoiceAddress.Line1", "length": 42, "limit": 35, "price": "18.25", '
        '"source_order": {"AssociatedRef": "5123400000", "lines": [1, [2, "é"]]}}'
    )
    # expect each as json writes it: a float's repr, NaN bare, a moment and a set as str(),
    # an enum's text, a lone surrogate kept, a Decimal NaN as text, keys that are not text
    odd: list[tuple[dict[Any, Any], str]] = [
        ({"ratio": 1e16}, '{"ratio": 1e+16}'),
        ({"ratio": float("nan")}, '{"ratio": NaN}'),
        ({"at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC)}, '{"at": "2026-11-20 10:00:00+00:00"}'),
        ({"skus": {7}}, '{"skus": "{7}"}'),
        ({"colour": Colour.RED}, '{"colour": "red"}'),
        ({"name": "a\ud800b"}, '{"name": "a\ud800b"}'),
        ({"paid": Decimal("NaN")}, '{"paid": "NaN"}'),
        ({1: {None: True, 2.5: "x"}}, '{"1": {"null": true, "2.5": "x"}}'),
    ]
    for given_details, expected in odd:
        assert details_text(given_details) == expected


@given(st.dictionaries(KEYS, _nested(PLAIN | st.floats(), KEYS), max_size=6))
def test_kept_details_are_read_back_as_json_loads_reads_them(details: dict[Any, Any]) -> None:
    text = _as_stored(details)
    # repr: the same types too (1 is not 1.0), and a NaN equal to itself
    assert repr(details_of(text)) == repr(json.loads(text))


def test_details_msgspec_would_refuse_are_read_as_json_loads_reads_them() -> None:
    # given details holding NaN, a number past a float, a lone surrogate (escaped, and as it is), a float 1.0
    texts = ['{"q": NaN}', '{"q": 1e400}', '{"s": "\\ud800"}', '{"s": "\ud800"}', '{"q": 1.0, "n": 1}']
    # expect each read as json reads it
    assert [repr(details_of(text)) for text in texts] == [
        "{'q': nan}",
        "{'q': inf}",
        "{'s': '\\ud800'}",
        "{'s': '\\ud800'}",
        "{'q': 1.0, 'n': 1}",
    ]


def test_details_that_are_not_json_are_refused_as_json_refuses_them() -> None:
    with pytest.raises(json.JSONDecodeError):
        details_of('{"a": "x\ny"}')
