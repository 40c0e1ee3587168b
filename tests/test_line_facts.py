"""What a document keeps of its lines (`lines`) and its items (`item_ids`) is written out by
hand (json's encoder cost more than the rest of a document's store side): byte for byte
what json.dumps writes, whatever the text (accents, quotes, control characters, a lone
surrogate), the order of the items, or an item sent twice."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from target_khaos_control.documents import Line
from target_khaos_control.khaos_documents import DataItem, ItemMapping, ReturnedItem
from target_khaos_control.khaos_position import item_ids_text, line_facts

# Any character, and those json escapes: a NUL, a control character, a lone surrogate, U+2028.
ODD = st.sampled_from(["\x00", "\x1f", "\ud800", "\udfff", "\u2028", '"', "\\"])
TEXT = st.lists(st.characters() | ODD, max_size=12).map("".join)
CREDIT = st.decimals(min_value=-10_000, max_value=10_000, places=2)


def _line(item_id: str, credit: Decimal, disposition: str, reason: str | None) -> Line:
    returned = ReturnedItem(
        SKU="SKU-1", Mapping=[ItemMapping(Mapping="StockCode")], Quantity=1, ReturnReason=DataItem(ID=reason)
    )
    return Line(item_id, [returned], [], True, credit, disposition)


@given(st.lists(st.tuples(TEXT, CREDIT, TEXT, st.none() | TEXT), max_size=6))
def test_a_documents_lines_are_kept_as_json_dumps_writes_them(given_lines: list[tuple[str, Decimal, str, str]]) -> None:
    lines = [_line(*given_line) for given_line in given_lines]
    # expect what json.dumps writes of the facts (the last of an item sent twice)
    facts = {
        item_id: {"credit": str(credit), "disposition": disposition, "reason": reason or ""}
        for item_id, credit, disposition, reason in given_lines
    }
    assert line_facts(lines) == json.dumps(facts, sort_keys=True)


def test_the_lines_of_an_item_with_accents_and_quotes_read_as_written_by_hand() -> None:
    # given two lines, given out of order, one with accents and quotes, one with no returned item
    lines = [
        _line('b"é', Decimal("12.50"), "restock", "4"),
        Line("a\n1", [], [], True, Decimal("-0.99"), ""),
    ]
    # expect the items sorted, the text escaped as json.dumps escapes it
    assert line_facts(lines) == (
        '{"a\\n1": {"credit": "-0.99", "disposition": "", "reason": ""}, '
        '"b\\"\\u00e9": {"credit": "12.50", "disposition": "restock", "reason": "4"}}'
    )


@given(st.lists(TEXT, max_size=6))
def test_a_documents_items_are_kept_as_json_dumps_writes_them(item_ids: list[str]) -> None:
    assert item_ids_text(item_ids) == json.dumps(item_ids)


def test_an_item_id_that_is_not_text_is_kept_as_json_dumps_writes_it() -> None:
    assert item_ids_text([7, "a"]) == '[7, "a"]'  # type: ignore[list-item]
    assert item_ids_text([]) == "[]"
