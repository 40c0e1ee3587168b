"""Money at stake read from stored details: only the fields that name money are decoded
(a scrape of /metrics reads every open exception), with the values `json.loads` gives them,
so the sums per currency stay what a person works out."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import NamedTuple

import pytest
from target_khaos_control import at_stake


class Row(NamedTuple):
    return_id: str
    item_id: str
    details: str | None


ROWS = [
    # 18.25 x 2 = 36.50, with fields no figure reads around it
    Row("r1", "a", '{"sku":"X","price":"18.25","quantity":2,"currency":"EUR","source_order":{"AssociatedRef":"1"}}'),
    Row("r1", "a", '{"price":"20.00","quantity":1,"currency":"EUR"}'),  # the same item: its largest, 36.50, once
    Row("r2", "", '{"difference":"-4.10","refunded":"10.00","currency":"GBP"}'),  # the difference wins: 4.10
    Row("r3", "b", '{"price":"1.00","price":"7.50","currency":"GBP"}'),  # a repeated key: the last, 7.50
    Row("r4", "c", '{"price":NaN,"currency":"GBP"}'),  # not a number: nothing
    Row("r5", "d", '{"price":1e400,"currency":"USD"}'),  # past a float: nothing
    Row("r6", "e", "[1, 2]"),  # not an object: nothing
    Row("r7", "f", None),  # no details: nothing
    Row("r8", "", '{"refunded":"12.00","currency":"USD"}'),  # a refund alone: 12.00
    Row("r9", "g", '{"price":0.1,"quantity":3,"currency":"USD"}'),  # a number as written: 0.1 x 3 = 0.3
    Row("r10", "h", '{"price":"5.00","currency":"EURO"}'),  # no currency code: nothing
]


def test_each_currency_sums_each_items_largest_figure_once() -> None:
    # Given the rows above, expect EUR 36.50; GBP 4.10 + 7.50; USD 12.00 + 0.30.
    assert at_stake.by_currency(ROWS) == {
        "EUR": Decimal("36.50"),
        "GBP": Decimal("11.60"),
        "USD": Decimal("12.30"),
    }


@pytest.mark.parametrize("row", ROWS, ids=[row.return_id for row in ROWS])
def test_the_fields_read_are_those_json_loads_gives(row: Row) -> None:
    # Given stored details, expect the fields a figure reads as json.loads reads them
    # (NaN is not equal to itself: compared as text).
    whole = json.loads(row.details or "{}")
    read = at_stake._money_fields(row.details)
    if not isinstance(whole, dict):
        assert read is None
        return
    assert read is not None
    fields = set(at_stake._FIELDS)
    assert repr(sorted((k, v) for k, v in read.items() if k in fields)) == repr(
        sorted((k, v) for k, v in whole.items() if k in fields)
    )
