"""An exception goes out on the exceptions stream as the line singer-sdk's format_message
writes, byte for byte, whichever way it is written (msgspec where it writes the same,
singer-sdk otherwise): text of any kind (accents, DEL, control characters, a lone
surrogate, beyond the BMP), whole numbers past 64 bits, floats and NaN, a nested value."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.singerlib import RecordMessage, format_message
from target_khaos_control.exception_log import STREAM
from target_khaos_control.exception_stream_line import record_line

ODD = st.sampled_from(["\x00", "\x1f", "\x7f", "\b", "\ud800", "\udfff", "\u2028", "é", "\U0001f600", '"', "\\"])
TEXT = st.lists(st.characters() | ODD, max_size=8).map("".join)
ASCII = st.text(st.characters(max_codepoint=0x7F), max_size=8)  # the common case (DEL aside): msgspec writes it
PLAIN = st.integers() | st.integers(min_value=2**63 - 2, max_value=2**65) | st.booleans() | st.none()


def _singer_sdks(record: dict[str, Any]) -> str:
    return format_message(RecordMessage(STREAM, dict(record)))


@given(st.dictionaries(ASCII, ASCII | PLAIN, max_size=21))
def test_a_plain_record_goes_out_as_singer_sdk_writes_it(record: dict[str, Any]) -> None:
    assert record_line(STREAM, record) == _singer_sdks(record)


@given(st.dictionaries(TEXT, TEXT | PLAIN | st.floats() | st.lists(PLAIN, max_size=2), max_size=8))
def test_any_record_goes_out_as_singer_sdk_writes_it(record: dict[str, Any]) -> None:
    assert record_line(STREAM, record) == _singer_sdks(record)


def test_the_records_msgspec_would_write_its_own_way_go_out_as_singer_sdk_writes_them() -> None:
    # given records with an accent, DEL, a lone surrogate, a float, NaN and a quantity that is a list
    odd: list[tuple[dict[str, Any], str]] = [
        ({"message": "Crème"}, '{"message":"Cr\\u00e8me"}'),
        ({"message": "a\x7fb"}, '{"message":"a\\u007fb"}'),
        ({"message": "a\ud800"}, '{"message":"a\\ud800"}'),
        ({"quantity": 1e16}, '{"quantity":1e+16}'),
        ({"quantity": float("nan")}, '{"quantity":null}'),
        ({"quantity": [1, "é"]}, '{"quantity":[1,"\\u00e9"]}'),
        ({"trace_key": "k", "occurrences": 2, "quantity": None}, '{"trace_key":"k","occurrences":2,"quantity":null}'),
    ]
    # expect each line as singer-sdk writes it: ASCII only, a float's repr, NaN as null
    for record, expected in odd:
        assert record_line(STREAM, record) == f'{{"type":"RECORD","stream":"exceptions","record":{expected}}}'
