"""Each entry Khaos pushes is decoded into its definition in `khaos_documents` (StockItem,
StockStatus, OrderStatus), from JSON or XML alike, and an entry that does not fit is
refused on its own with a message naming the field in our words, never msgspec's."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from target_khaos_control.channel import khaos_xml
from target_khaos_control.channel.push_entries import EntryError, decoded, order_status
from target_khaos_control.khaos_documents import (
    Barcode,
    DataItem,
    OrderStatus,
    StockItem,
    StockLevels,
    StockOptions,
    StockStatus,
)
from target_khaos_control.rules.catalogue import Catalogue

from tests.khaos_docs import channel, sample, store


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return store(tmp_path)


def _refusal(entry: object, shape: type[StockItem] | type[StockStatus] = StockItem) -> str:
    with pytest.raises(EntryError) as refused:
        decoded(entry, shape)
    return str(refused.value)


def test_the_docs_stock_item_reads_the_same_from_json_and_xml() -> None:
    from_json = json.loads(sample("stock_upload.json"))["Items"][0]
    from_xml = khaos_xml.parse(sample("stock_upload.xml"), "StockItems")["Items"]
    assert isinstance(from_xml, list)

    expected = StockItem(
        StockID="6027",
        StockCode="DRC1.JUSTINWBK115",
        TaxRate=DataItem(ID="1", Code="1", Name="Standard"),
        Options=StockOptions(Discontinued=False),
    )
    assert decoded(from_json, StockItem) == expected
    assert decoded(from_xml[0], StockItem) == expected, "XML's False text is a flag, its DataItem text the Name"


def test_the_docs_stock_status_reads_the_same_from_json_and_xml() -> None:
    from_json = json.loads(sample("stock_status.json"), parse_float=Decimal)["Statuses"][0]
    from_xml = {
        "StockCode": "BOO",
        "StockID": "112",
        "SiteID": "1",
        "Levels": {"Available": "77.0", "OnOrder": "84.0"},
    }

    expected = StockStatus(
        StockCode="BOO",
        StockID="112",
        SiteID="1",
        Levels=StockLevels(Available=Decimal("77.0000"), OnOrder=Decimal("84.0000")),
    )
    assert decoded(from_json, StockStatus) == expected, "JSON's SiteID 1 is the site '1', as XML's"
    assert decoded(from_xml, StockStatus) == expected


def test_the_tables_order_status_field_is_the_status() -> None:
    assert order_status({"OrderID": "1", "OrderStatus": "Complete"}) == OrderStatus(OrderID="1", Status="Complete")
    assert order_status({"OrderID": "1", "Status": " Complete ", "OrderStatus": "Complete"}).Status == "Complete"


def test_empty_fields_are_absent_and_text_is_trimmed() -> None:
    # given XML's empty elements and JSON's nulls, and a code with spaces around it
    entry: dict[str, object] = {
        "StockID": " 7 ",
        "StockCode": "A",
        "OtherRef": "",
        "Options": "",
        "TaxRate": None,
        "Barcodes": {},
    }

    assert decoded(entry, StockItem) == StockItem(StockID="7", StockCode="A")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"StockCode": "A"}, "StockID: required"),
        ({"StockID": "   ", "StockCode": "A"}, "StockID: required"),
        ({"StockID": {"a": 1}, "StockCode": "A"}, "StockID: expected text, got an object"),
        ({"StockID": True, "StockCode": "A"}, "StockID: expected text, got true/false"),
        ({"StockID": "9" * 41, "StockCode": "A"}, "StockID: 41 characters; at most 40 are kept"),
        ({"StockID": "1", "StockCode": "A\x00B"}, "StockCode: holds a NUL character"),
        ({"StockID": "1", "StockCode": "A", "Options": 5}, "Options: expected an object, got a number"),
        ({"StockID": "1", "StockCode": "A", "Options": {"Discontinued": 1}}, "Options.Discontinued: expected true or false, got 1"),
        ({"StockID": "1", "StockCode": "A", "Barcodes": 5}, "Barcodes: expected a list, got a number"),
        ({"StockID": "1", "StockCode": "A", "Barcodes": [7]}, "Barcodes[0]: expected an object, got a number"),
        ({"StockID": "1", "StockCode": "A", "Barcodes": [{"Barcode": "5"}, {"Type": "EAN13"}]}, "Barcodes[1].Barcode: required"),
        ({"StockID": "1", "StockCode": "A", "Barcodes": [{"Barcode": "5\x00"}]}, "Barcodes[0].Barcode: holds a NUL character"),
        ("6027", "expected an object, got text"),
    ],
)  # fmt: skip
def test_a_stock_item_that_does_not_fit_is_refused_naming_the_field(entry: object, reason: str) -> None:
    assert _refusal(entry) == reason


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        ({"Available": "lots", "OnOrder": 0}, "Levels.Available: 'lots' is not a number"),
        ({"Available": [1], "OnOrder": 0}, "Levels.Available: expected a number, got a list"),
        ({"Available": Decimal("NaN"), "OnOrder": 0}, "Levels.Available: Decimal('NaN') is not a stock level"),
        # the first level wrong is named before the one missing, as Khaos wrote them
        ({"Available": "1e999999999"}, "Levels.Available: '1e999999999' is not a stock level"),
        ({"Available": "100000000000000", "OnOrder": 0}, "Levels.Available: '100000000000000' is not a stock level"),
        ({"Available": 1}, "Levels.OnOrder: required"),
        (3, "Levels: expected an object, got a number"),
    ],
)
def test_a_stock_level_that_does_not_fit_is_refused_naming_the_field(levels: object, reason: str) -> None:
    assert _refusal({"StockID": "1", "SiteID": 1, "Levels": levels}, StockStatus) == reason


def test_a_level_is_kept_to_the_stores_four_places() -> None:
    status = decoded(
        {"StockID": "1", "SiteID": 1, "Levels": {"Available": "1e-999999999", "OnOrder": "2.5"}}, StockStatus
    )

    assert status.Levels == StockLevels(Available=Decimal("0.0000"), OnOrder=Decimal("2.5000"))


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"OrderID": "1", "Status": "Lost"}, "Status: 'Lost' is not one of Cancelled, Complete, PartialShip, Received, Shipping"),
        ({"OrderID": "1", "Status": "Complete", "OrderStatus": "Received"}, "Status 'Complete' and OrderStatus 'Received' disagree"),
        ({"OrderID": "1"}, "Status: required"),
        ({"Status": "Complete"}, "OrderID: required"),
        ({"OrderID": "1", "Status": "Complete", "OrderCode": "S" * 81}, "OrderCode: 81 characters; at most 80 are kept"),
    ],
)  # fmt: skip
def test_an_order_status_that_does_not_fit_is_refused_naming_the_field(entry: object, reason: str) -> None:
    with pytest.raises(EntryError) as refused:
        order_status(entry)

    assert str(refused.value) == reason


# --- Bugs: what the push kept as it came, before entries were decoded into their definitions


def test_a_tax_rate_whose_id_is_not_text_is_refused_not_made_a_tax_code(engine: Engine) -> None:
    # given a stock item whose TaxRate ID is an object: it was kept, and its tax code was "{'x': 1}"
    push = {
        "Items": [{"StockID": "1", "StockCode": "A", "TaxRate": {"ID": {"x": 1}}}, {"StockID": "2", "StockCode": "B"}]
    }

    answer = channel(engine).post("/khaos/stock", json.dumps(push).encode())

    assert answer.status_code == 200, answer.text
    assert [r["reason"] for r in answer.json()["rejections"]] == ["TaxRate.ID: expected text, got an object"]
    with engine.connect() as conn:
        assert {code: item.tax_code for code, item in Catalogue.read(conn).items.items()} == {"B": ""}


def test_a_barcode_type_is_text_or_a_data_item_and_nothing_else() -> None:
    # the docs give no type: the sandbox sends text, bench's larger sample a DataItem
    def item(kind: object) -> dict[str, object]:
        return {"StockID": "1", "StockCode": "A", "Barcodes": [{"Barcode": "5056", "Type": kind}]}

    assert decoded(item("EAN13"), StockItem).Barcodes == [Barcode(Barcode="5056", Type="EAN13")]
    assert decoded(item({"Name": "EAN13"}), StockItem).Barcodes == [
        Barcode(Barcode="5056", Type=DataItem(Name="EAN13"))
    ]
    assert _refusal(item(["EAN13"])) == "Barcodes[0].Type: expected text or an object, got a list"


def test_a_kept_stock_item_is_written_as_its_definition(engine: Engine) -> None:
    push = {"Items": [{"StockID": 1004, "StockCode": "HOOD", "Barcodes": [{"Barcode": "5056", "Type": "EAN13"}]}]}

    channel(engine).post("/khaos/stock", json.dumps(push).encode())

    with engine.connect() as conn:
        row = conn.execute(sa.text("select stock_id, barcodes, tax_rate, discontinued from stock_items")).one()
    assert (row.stock_id, json.loads(row.barcodes), json.loads(row.tax_rate), row.discontinued) == (
        "1004",
        [{"Barcode": "5056", "Type": "EAN13"}],
        {},
        0,
    ), "JSON's StockID 1004 is the text '1004'"
    assert decoded({"Barcode": "5056"}, Barcode) == Barcode(Barcode="5056")


# --- Any entry at all: its definition, or an EntryError naming a field, never another error

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=12),  # NUL and controls included
    st.sampled_from(["True", "false", "1e-999999999", "1e999999999", "Complete", " ", "9" * 120]),
)
NAMES = ["StockID", "StockCode", "OtherRef", "SiteID", "OrderID", "OrderCode", "Status", "OrderStatus"]
NAMES += ["Levels", "Available", "OnOrder", "Options", "Discontinued", "Barcodes", "Barcode", "Type", "TaxRate", "ID"]
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4), max_leaves=12)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    entry=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8), shape=st.sampled_from([StockItem, StockStatus])
)
def test_any_entry_is_its_definition_or_refused_naming_a_field(
    entry: dict[str, object], shape: type[StockItem] | type[StockStatus]
) -> None:
    outcome: object
    try:
        outcome = decoded(entry, shape)
    except EntryError as refused:
        outcome = str(refused)

    if isinstance(outcome, str):
        assert re.match(r"[A-Za-z]+(\[\d+\])?(\.[A-Za-z]+(\[\d+\])?)*: ", outcome), outcome
        assert len(outcome) < 200, "never echoes long input"
    else:
        assert isinstance(outcome, shape)
