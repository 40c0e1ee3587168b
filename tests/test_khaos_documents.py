"""The Khaos documents, typed once (target_khaos_control/khaos_documents.py): what is stored
and served is encoded from them, the XML walks them, and they hold the docs' names and lengths."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
import yaml
from defusedxml import ElementTree
from hypothesis import given, settings
from hypothesis import strategies as st
from target_khaos_control.channel import khaos_xml
from target_khaos_control.khaos_documents import (
    Address,
    Contact,
    CustomerReturn,
    CustomerReturnImport,
    DataItem,
    ExchangeItem,
    ImportConfig,
    ItemMapping,
    KhaosDocument,
    OrderRef,
    OrderReference,
    OrderStatus,
    OrderStatusUpload,
    Price,
    ReturnedItem,
    StockItem,
    StockLevels,
    StockStatus,
    StockStatusUpload,
    StockUpload,
    decode,
    encode,
    fields_of,
    max_lengths,
    too_long,
)
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.golden import build_return
from target_khaos_control.store import document_bodies, order_statuses, stock_items, stock_levels

from tests.khaos_docs import sample, store
from tests.servers import DEMO_RULES

BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())
RULESET = load_ruleset(DEMO_RULES)


def test_a_drafted_return_is_stored_as_the_json_khaos_is_served(tmp_path: Path) -> None:
    # Given the demo rules' base return: one accepted tee, 24.00 paid, refunded in full
    record = build_return(BASE, {})
    draft = load_ruleset(DEMO_RULES).draft(record)
    engine = store(tmp_path)

    with engine.begin() as conn:
        apply_returns(conn, [(record, draft)], datetime(2026, 11, 21, tzinfo=UTC))
    with engine.connect() as conn:
        [body] = conn.execute(sa.select(document_bodies.c.body)).scalars().all()

    # Expect the fields in the docs' order, nothing null, the price as the number 24.00
    assert body == (
        '{"AssociatedRef":"RV-ret-1","CreatedDate":"2026-11-18T09:12:44","URN":"CUST0001",'
        '"InvoiceAddress":{"Line1":"12 High Street","Town":"Leeds","Postcode":"LS1 4AP",'
        '"Country":{"Code":"GB"},"Email":"cust0001@example.com"},'
        '"InvoiceContact":{"Forename":"Ana","Surname":"Ruiz","Email":"cust0001@example.com"},'
        '"SalesSource":{"Name":"REVENI"},'
        '"Notes":"Reveni return ret-1 for order #10008, refund by original_payment_method",'
        '"ReturnedItems":[{"SKU":"TEE-BLK-M","Mapping":[{"Mapping":"StockCode"}],"Quantity":1,'
        '"ReturnReason":{"ID":"1"},"SourceReference":{"SourceOrder":{"AssociatedRef":"5123400056"}},'
        '"UnitPrice":{"Gross":24.00}}],"ProcessReturn":true}'
    )


def _exchange() -> CustomerReturn:
    """A return of two mugs for one jug, written by hand."""
    source = OrderReference(SourceOrder=OrderRef(SOrderID="2075"))
    return CustomerReturn(
        AssociatedRef="RV-7",
        CreatedDate="2026-01-05T09:00:00",
        URN="TOMA",
        InvoiceAddress=Address(Line1="1 Priest Court", Town="Grantham", Country=DataItem(Code="GB")),
        InvoiceContact=Contact(Forename="Tó & <Ma>"),
        ReturnedItems=[
            ReturnedItem(
                SKU="MUG1",
                Mapping=[ItemMapping(Mapping="StockCode"), ItemMapping(Mapping="Barcode", MappingItem="EAN13")],
                Quantity=2,
                ReturnReason=DataItem(ID="6"),
                ExtendedDescription=["chipped", "lid\x00 missing"],
                SourceReference=source,
                UnitPrice=Price(Gross=Decimal("8.50")),
            )
        ],
        ExchangeItems=[
            ExchangeItem(
                SKU="JUG1",
                Mapping=[ItemMapping(Mapping="StockCode")],
                Quantity=1,
                UnitPrice=Price(Net=Decimal("14.1667")),
            )
        ],
        ProcessReturn=False,
    )


def test_the_xml_is_written_by_walking_the_definitions() -> None:
    page = CustomerReturnImport(
        Returns=[_exchange()],
        ApiVersion=1000,
        Config=ImportConfig(MatchAddressOn=["Address1", "Postcode"], MatchContactOn=["Surname"]),
    )

    xml = khaos_xml.render("CustomerReturnImport", page)

    # Expect DataItems as attributes, each list's entries named as their definition
    # (ExtendedDescription's as Line), Config's matches repeated without a container,
    # the NUL taken out, and money as written.
    assert xml.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CustomerReturnImport><Returns><CustomerReturn>'
        "<AssociatedRef>RV-7</AssociatedRef><CreatedDate>2026-01-05T09:00:00</CreatedDate><URN>TOMA</URN>"
        '<InvoiceAddress><Line1>1 Priest Court</Line1><Town>Grantham</Town><Country Code="GB" /></InvoiceAddress>'
        "<InvoiceContact><Forename>Tó &amp; &lt;Ma&gt;</Forename></InvoiceContact>"
        "<ReturnedItems><ReturnedItem><SKU>MUG1</SKU><Mapping><ItemMapping><Mapping>StockCode</Mapping></ItemMapping>"
        "<ItemMapping><Mapping>Barcode</Mapping><MappingItem>EAN13</MappingItem></ItemMapping></Mapping>"
        '<Quantity>2</Quantity><ReturnReason ID="6" />'
        "<ExtendedDescription><Line>chipped</Line><Line>lid missing</Line></ExtendedDescription>"
        "<SourceReference><SourceOrder><SOrderID>2075</SOrderID></SourceOrder></SourceReference>"
        "<UnitPrice><Gross>8.50</Gross></UnitPrice></ReturnedItem></ReturnedItems>"
        "<ExchangeItems><ExchangeItem><SKU>JUG1</SKU><Mapping><ItemMapping><Mapping>StockCode</Mapping></ItemMapping>"
        "</Mapping><Quantity>1</Quantity><UnitPrice><Net>14.1667</Net></UnitPrice></ExchangeItem></ExchangeItems>"
        "<ProcessReturn>false</ProcessReturn></CustomerReturn></Returns><ApiVersion>1000</ApiVersion>"
        "<Config><MatchAddressOn>Address1</MatchAddressOn><MatchAddressOn>Postcode</MatchAddressOn>"
        "<MatchContactOn>Surname</MatchContactOn></Config></CustomerReturnImport>"
    )


def test_a_stored_body_read_back_is_written_as_its_definition_would_be() -> None:
    document = _exchange()

    stored = decode(encode(document))

    assert stored["ExchangeItems"][0]["UnitPrice"] == {"Net": Decimal("14.1667")}, "money read back as Decimal"
    assert khaos_xml.render("CustomerReturn", stored, CustomerReturn) == khaos_xml.render("CustomerReturn", document)


def test_the_maximum_lengths_are_the_docs() -> None:
    # README L394-L417, the "Max Length" columns
    assert max_lengths(Address) == {
        "Line1": 35,
        "Line2": 35,
        "Line3": 35,
        "Town": 35,
        "County": 35,
        "Postcode": 10,
        "Email": 100,
        "Telephone": 25,
        "Fax": 25,
        "Organisation": 50,
    }
    assert max_lengths(Contact) == {"Title": 20, "Forename": 50, "Surname": 50, "Email": 100, "Mobile": 30}


def test_a_document_over_a_length_does_not_pass_for_khaos_s() -> None:
    body = encode(_exchange()).replace("1 Priest Court", "1" * 36)

    with pytest.raises(msgspec.ValidationError, match=r"length <= 35 - at `\$.InvoiceAddress.Line1`"):
        msgspec.json.decode(body, type=CustomerReturn)


def _names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {name for inner in value.values() for name in _names(inner)}
    if isinstance(value, list):
        return {name for inner in value for name in _names(inner)}
    return set()


def _defined() -> set[str]:
    """Every field name the definitions know."""
    return {field.encode_name for shape in KhaosDocument.__subclasses__() for field in fields_of(shape)}


def test_every_field_of_the_docs_customer_return_is_defined() -> None:
    sample_return = json.loads(sample("customer_return.json"))
    # SourceOrder's names are the docs' own too: AssociatedRef, SOrderID, SOrderCode.
    assert _names(sample_return) - _defined() == set()
    assert {"SourceReturnReference", "DeliveryAddress", "ExtendedDescription"} <= {
        field.encode_name for shape in (CustomerReturn, ReturnedItem) for field in fields_of(shape)
    }


def test_the_docs_push_samples_read_as_the_definitions() -> None:
    upload = msgspec.json.decode(sample("stock_upload.json"), type=StockUpload)
    levels = msgspec.json.decode(sample("stock_status.json"), type=StockStatusUpload)
    orders = msgspec.json.decode(sample("order_status.json"), type=OrderStatusUpload)

    [item] = upload.Items
    assert (item.StockID, item.StockCode, item.TaxRate) == (
        "6027",
        "DRC1.JUSTINWBK115",
        DataItem(ID="1", Code="1", Name="Standard"),
    )
    assert levels.Statuses[0].SiteID == 1, "JSON sends SiteID as a number"
    assert levels.Statuses[0].Levels == StockLevels(Available=Decimal("77.0"), OnOrder=Decimal("84.0"))
    assert [(order.OrderID, order.Status) for order in orders.Statuses] == [("2075", "Received"), ("2076", "Received")]


def _width(column: sa.Column[Any]) -> int | None:
    return column.type.length if isinstance(column.type, sa.String) else None


def test_the_store_keeps_what_the_push_definitions_allow() -> None:
    assert _width(stock_items.c.stock_id) == max_lengths(StockItem)["StockID"] == 40
    assert _width(stock_items.c.stock_code) == max_lengths(StockItem)["StockCode"] == 100
    assert _width(stock_levels.c.site_id) == max_lengths(StockStatus)["SiteID"] == 20
    assert _width(order_statuses.c.order_id) == max_lengths(OrderStatus)["OrderID"] == 40
    assert _width(order_statuses.c.order_code) == max_lengths(OrderStatus)["OrderCode"] == 80


NAMES = st.text(max_size=70)  # any text, control characters and lone surrogates included


@settings(max_examples=150, deadline=None)
@given(first=NAMES, last=NAMES, line1=NAMES, line2=NAMES, city=NAMES, postcode=NAMES)
def test_every_document_the_rules_make_is_one_khaos_reads(
    first: str, last: str, line1: str, line2: str, city: str, postcode: str
) -> None:
    address = {"line1": line1, "line2": line2, "city": city, "postcode": postcode, "country_code": "GB"}
    record = build_return(BASE, {"customer": {"first_name": first, "last_name": last, "address": address}})

    draft = RULESET.draft(record)

    if draft.lines:
        document = draft.document("RV-ret-1", draft.lines)
        body = encode(document)
        assert msgspec.json.decode(body, type=CustomerReturn) == document, "every length within Khaos's"
        xml = khaos_xml.render("CustomerReturn", document)
        assert ElementTree.fromstring(xml).findtext("URN") == "CUST0001", "well-formed, whatever the names"
        assert khaos_xml.render("CustomerReturn", decode(body), CustomerReturn) == xml


def test_a_sales_source_and_brand_from_reveni_s_data_lose_what_xml_forbids_in_json_too(tmp_path: Path) -> None:
    # Given rules that name the sales source and brand from the return, and a name holding a vertical tab
    folder = tmp_path / "rules"
    folder.mkdir()
    text = (DEMO_RULES / "rules.yml").read_text()
    templated = '  sales_source: "{{ customer.last_name }}"\n  brand: "{{ customer.last_name }} Outlet"\n'
    (folder / "rules.yml").write_text(text.replace("  sales_source: REVENI\n", templated))
    record = build_return(BASE, {"customer": {"last_name": "Ru\x0biz"}})

    draft = load_ruleset(folder).draft(record)
    body = json.loads(encode(draft.document("RV-ret-1", draft.lines)))

    # Expect the JSON to say what the XML says: the character XML 1.0 forbids is gone
    assert (body["SalesSource"], body["Brand"]) == ({"Name": "Ruiz"}, {"Name": "Ruiz Outlet"})


def test_each_field_over_khaos_length_is_named_with_its_limit_wherever_it_is() -> None:
    # Given an address with the first, a middle and the last limited field one over, and a
    # second line exactly at its limit: only the three over it are named, in Khaos's order.
    address = Address(
        Line1="x" * 36,
        Line2="y" * 35,
        Town="Leeds",
        Postcode="P" * 11,
        Country=DataItem(Code="GB"),
        Organisation="O" * 51,
    )
    assert too_long(address) == [("Line1", 35), ("Postcode", 10), ("Organisation", 50)]
    assert too_long(Contact(Forename="F" * 50, Email="e" * 101)) == [("Email", 100)]
    assert too_long(Contact()) == []
