"""The Khaos Control sandbox acts as KCC towards a channel (shared/spec/khaos-control-cloud.md).

Admin routes are tested over real HTTP against a started `khaos-sandbox`; what KCC does
with a pulled return is tested in-process on a small Khaos built here, so each test
reads as given / expect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from defusedxml import ElementTree as SafeXML
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from reveni_khaos_sandbox.khaos_app import KhaosSandbox as KhaosApp
from reveni_khaos_sandbox.khaos_channel_client import ChannelClient
from reveni_khaos_sandbox.khaos_channel_config import parse_config
from reveni_khaos_sandbox.khaos_channel_documents import encode, parse_returns, stock_item_document
from reveni_khaos_sandbox.khaos_data import RETURN_REASONS, SITES, TAX_RATES
from reveni_khaos_sandbox.khaos_model import Khaos
from reveni_khaos_sandbox.khaos_records import Conflict, Customer, OrderLine, SalesOrder, StockItem

from tests.servers import KhaosSandbox, ReveniSandbox, free_port

# --- a khaos-sandbox process ------------------------------------------------------------


@pytest.fixture(scope="module")
def khaos_sandbox() -> Iterator[KhaosSandbox]:
    """Demo data matching the shared Reveni sandbox: read, never change."""
    own = KhaosSandbox().start()
    yield own
    own.stop()


@pytest.fixture
def own_khaos_sandbox() -> Iterator[KhaosSandbox]:
    own = KhaosSandbox(returns=20).start()
    yield own
    own.stop()


# --- over HTTP: the demo data and the admin API -------------------------------------------


def test_demo_orders_are_the_reveni_sandboxes_orders(khaos_sandbox: KhaosSandbox, demo_sandbox: ReveniSandbox) -> None:
    orders = {order["AssociatedRef"]: order for order in khaos_sandbox.get("orders")}
    stock = khaos_sandbox.get("stock")
    codes = {code: item["StockID"] for item in stock for code in [item["StockCode"], *item["History"]]}
    for reveni_return in demo_sandbox.all_returns()[:30]:
        order = orders[reveni_return["order"]["external_id"]]
        on_order = {line["StockID"] for line in order["Lines"]}
        assert {codes[item["sku"]] for item in reveni_return["return_items"]} <= on_order
        assert all(line["Quantity"] == 2 for line in order["Lines"])


def test_stock_items_carry_current_code_history_tax_and_levels(khaos_sandbox: KhaosSandbox) -> None:
    stock = {item["StockID"]: item for item in khaos_sandbox.get("stock")}
    hoodie, scarf, candle = stock["1004"], stock["1010"], stock["1011"]
    assert (hoodie["StockCode"], hoodie["History"]) == ("HOODIE-GREY-M", ["HOOD-GRY-M"])
    assert hoodie["Barcodes"] == [{"Barcode": "5056000000031", "Type": "EAN13"}]
    assert scarf["Discontinued"] is True
    assert candle["TaxRate"] == {"ID": "1", "Code": "1", "Name": "Standard"}
    assert stock["1008"]["TaxRate"]["Name"] == "Zero"
    assert hoodie["Levels"]["1"] == {"Site": "Main warehouse", "Available": 10, "OnOrder": 0}
    assert hoodie["Levels"]["2"]["Available"] == 0


def test_rename_keeps_the_old_code_and_reports_the_push(own_khaos_sandbox: KhaosSandbox) -> None:
    renamed = own_khaos_sandbox.call("POST", "stock/1001/rename", {"stock_code": "TEE-BLACK-S"}).json()
    assert (renamed["StockCode"], renamed["History"]) == ("TEE-BLACK-S", ["TEE-BLK-S"])
    assert renamed["pushed"]["ok"] is False  # no channel is set, and the sandbox says so
    assert "No channel config URL is set" in renamed["pushed"]["error"]
    again = own_khaos_sandbox.call("POST", "stock/1001/rename", {"stock_code": "TEE-BLK-S"}).json()
    assert again["History"] == ["TEE-BLK-S", "TEE-BLACK-S"]


def test_rename_to_a_code_in_use_is_409(own_khaos_sandbox: KhaosSandbox) -> None:
    response = own_khaos_sandbox.call("POST", "stock/1001/rename", {"stock_code": "TEE-BLK-M"})
    assert response.status_code == 409
    assert "1002" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field_name"),
    [
        ("stock/1001/rename", {}, "stock_code"),
        ("stock/1001/rename", {"stock_code": 7}, "stock_code"),
        ("channel", {"config_url": "ftp://x"}, "config_url"),
        ("channel", {"config_url": "http://x/c", "password": 1}, "password"),
        ("retry", {"refs": "RV-1"}, "refs"),
        ("retry", {"refs": ["A,B"]}, "refs"),
        ("load", {"stock": [{"StockID": "1"}]}, "stock[0].StockCode"),
        ("load", {"reasons": [{"ID": "9", "ProcessingType": "Burn"}]}, "reasons[0].ProcessingType"),
        ("link", {}, "config_url"),
        ("poll", {}, "config_url"),
    ],
)
def test_bad_admin_requests_are_400_naming_the_field(
    khaos_sandbox: KhaosSandbox, path: str, body: dict[str, Any], field_name: str
) -> None:
    response = khaos_sandbox.call("POST", path, body)
    assert response.status_code == 400
    assert field_name in response.json()["detail"]


def test_unknown_stock_item_and_return_are_404(khaos_sandbox: KhaosSandbox) -> None:
    assert khaos_sandbox.call("POST", "stock/9999/rename", {"stock_code": "X"}).status_code == 404
    assert khaos_sandbox.call("POST", "returns/RV-none/process").json() == {
        "detail": "No return 'RV-none' has been pulled"
    }


def test_an_unreachable_channel_is_a_502_naming_it_and_the_sandbox_carries_on(
    own_khaos_sandbox: KhaosSandbox,
) -> None:
    config_url = f"http://127.0.0.1:{free_port()}/khaos/config.json"
    own_khaos_sandbox.call("POST", "channel", {"config_url": config_url, "username": "kcc", "password": "pw"})
    response = own_khaos_sandbox.call("POST", "link")
    assert response.status_code == 502
    assert config_url in response.json()["detail"]
    assert own_khaos_sandbox.get("health")["channel_config_url"] == config_url


def test_credit_note_export_starts_with_the_finance_header(khaos_sandbox: KhaosSandbox) -> None:
    response = khaos_sandbox.call("GET", "credit-notes.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        response.text.splitlines()[0]
        == "CreditNoteCode,Date,AssociatedRef,SalesOrderCode,URN,Currency,Net,Tax,Gross,Status"
    )


# --- in-process: what Khaos does with a pulled CustomerReturn -----------------------------

ORDER_REF = "5123400084"


def small_khaos() -> Khaos:
    def item(stock_id: str, code: str, ean: str, price: str, tax: str = "1", **extra: Any) -> StockItem:
        return StockItem(
            stock_id, code, code, f"SUP-{stock_id}", [(ean, "EAN13")], tax, Decimal(price),
            available={"1": 10, "2": 0}, on_order={"1": 0, "2": 0}, **extra,
        )  # fmt: skip

    stock = [
        item("1001", "TEE-BLK-M", "5056000000017", "24.00"),
        item("1004", "HOODIE-GREY-M", "5056000000031", "59.99", history=["HOOD-GRY-M"]),
        item("1008", "KIDS-TEE-7", "5056000000079", "12.00", tax="2"),
        item("1010", "SCARF-WOOL-RED", "5056000000093", "35.00", discontinued=True),
    ]
    lines = tuple(OrderLine(f"50012{n:02d}", s.stock_id, 2, s.sell_price) for n, s in enumerate(stock, 1))
    return Khaos(
        customers=[Customer("CUST0001", "Ana Ruiz", "GBP")],
        stock=stock,
        orders=[SalesOrder("50012", "SO50012", ORDER_REF, "CUST0001", "GBP", lines)],
        reasons=RETURN_REASONS,
        tax_rates=TAX_RATES,
        sites=SITES,
        clock=lambda: datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
    )


def item(sku: str = "TEE-BLK-M", quantity: Any = 1, reason: str = "1", **changes: Any) -> dict[str, Any]:
    return {
        "SKU": sku,
        "Mapping": [{"Mapping": "StockCode"}],
        "Quantity": quantity,
        "ReturnReason": {"ID": reason},
        "SourceReference": {"SourceOrder": {"AssociatedRef": ORDER_REF}},
        "UnitPrice": {"Gross": 24.0},
        **changes,
    }


def customer_return(ref: str = "RV-1", *items: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "AssociatedRef": ref,
        "CreatedDate": "2026-11-18T09:12:44",
        "URN": "CUST0001",
        "InvoiceAddress": {
            "Line1": "12 High Street",
            "Town": "Leeds",
            "Postcode": "LS1 4AP",
            "Country": {"Code": "GB"},
        },
        "InvoiceContact": {"Forename": "Ana", "Surname": "Ruiz"},
        "ReturnedItems": list(items) or [item()],
        **changes,
    }


def test_a_good_return_imports_and_awaits_processing() -> None:
    khaos = small_khaos()
    outcome = khaos.import_return(customer_return())
    assert (outcome.imported, outcome.reasons) == (True, [])
    assert (khaos.pulled["RV-1"].status, khaos.pulled["RV-1"].state) == ("imported", "Awaiting processing")
    assert khaos.stock["1001"].available == {"1": 10, "2": 0}


def test_processing_posts_a_credit_note_and_returns_stock_to_the_main_warehouse() -> None:
    khaos = small_khaos()
    khaos.import_return(customer_return("RV-1", item(quantity=2), item("KIDS-TEE-7", UnitPrice={"Gross": 12})))
    note, moved = khaos.process("RV-1")
    assert (note.code, note.sales_order_code, note.urn, note.currency, note.status) == (
        "CN00001", "SO50012", "CUST0001", "GBP", "Posted",
    )  # fmt: skip
    assert [(line.net, line.tax, line.gross) for line in note.lines] == [
        (Decimal("40.00"), Decimal("8.00"), Decimal("48.00")),
        (Decimal("12.00"), Decimal("0.00"), Decimal("12.00")),
    ]
    assert (note.net, note.tax, note.gross) == (Decimal("52.00"), Decimal("8.00"), Decimal("60.00"))
    assert moved == {"1001", "1008"}
    assert khaos.stock["1001"].available == {"1": 12, "2": 0}
    assert khaos.pulled["RV-1"].status == "processed"


def test_net_and_tax_are_rounded_half_up_per_line() -> None:
    khaos = small_khaos()
    khaos.import_return(customer_return("RV-1", item("HOODIE-GREY-M", UnitPrice={"Gross": 59.99})))
    note, _ = khaos.process("RV-1")
    assert (note.net, note.tax, note.gross) == (Decimal("49.99"), Decimal("10.00"), Decimal("59.99"))


def test_faulty_goes_to_quarantine_and_damaged_is_written_off() -> None:
    khaos = small_khaos()
    khaos.import_return(customer_return("RV-1", item(reason="2"), item("KIDS-TEE-7", reason="5"), ProcessReturn=True))
    assert khaos.stock["1001"].available == {"1": 10, "2": 1}
    assert khaos.stock["1008"].available == {"1": 10, "2": 0}


def test_process_return_true_processes_on_import_and_twice_is_a_conflict() -> None:
    khaos = small_khaos()
    outcome = khaos.import_return(customer_return(ProcessReturn=True))
    assert outcome.credit_note is not None
    assert outcome.moved_stock_ids == {"1001"}
    with pytest.raises(Conflict, match="Return has already been processed"):
        khaos.process("RV-1")


def _without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(name)


def _set_item(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["ReturnedItems"][0].update(changes)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda doc: doc.update(URN="NOBODY"), "Customer URN 'NOBODY' not found"),
        (_set_item(SKU="HOOD-GRY-M"), "Stock item 'HOOD-GRY-M' not found by any mapping (StockCode)"),
        (
            _set_item(SKU="NOPE", Mapping=[{"Mapping": "StockCode"}, {"Mapping": "Barcode"}]),
            "Stock item 'NOPE' not found by any mapping (StockCode, Barcode)",
        ),
        (_set_item(SKU="SCARF-WOOL-RED"), "Stock item 'SCARF-WOOL-RED' is discontinued"),
        (_set_item(ReturnReason={"ID": "9"}), "Return reason {'ID': '9'} not found"),
        (
            _set_item(SourceReference={"SourceOrder": {"AssociatedRef": "X"}}),
            "Source order {'AssociatedRef': 'X'} not found",
        ),
        (
            _set_item(SourceReference={"SourceOrder": {"SOrderID": "50012", "SOrderCode": "SO50012"}}),
            "Source reference must name exactly one of AssociatedRef, SOrderID, SOrderCode, SOrderItemID",
        ),
        (_set_item(Quantity=3), "More returned than sold: 3 of 'TEE-BLK-M' on SO50012 (sold 2, already returned 0)"),
        (_set_item(UnitPrice=None), "Null value at ReturnedItems[0].UnitPrice"),
        (_without("URN"), "Missing required field URN"),
        (_set_item(Quantity=1.5), "ReturnedItems[0].Quantity must be a whole number above 0, got 1.5"),
        (
            lambda doc: doc["InvoiceAddress"].update(Line1="The Old Rectory, Church Lane, Much Wenlock"),
            "InvoiceAddress.Line1 is 42 characters long; Khaos allows 35",
        ),
    ],
)
def test_a_return_that_khaos_cannot_take_fails_with_the_reason(
    change: Callable[[dict[str, Any]], None], reason: str
) -> None:
    khaos = small_khaos()
    document = customer_return()
    change(document)
    outcome = khaos.import_return(document)
    assert reason in outcome.reasons
    assert (outcome.imported, khaos.pulled[outcome.associated_ref].state) == (False, "Import failed")


def test_a_wrong_api_version_fails_every_return_of_the_pull() -> None:
    outcome = small_khaos().import_return(customer_return(), api_version=10000)
    assert outcome.reasons == ["ApiVersion 10000 is not supported; Khaos needs 1000"]


def test_every_reason_of_a_return_is_collected() -> None:
    document = customer_return("RV-1", item("HOOD-GRY-M"), item(reason="9"), URN="NOBODY")
    assert small_khaos().import_return(document).reasons == [
        "Customer URN 'NOBODY' not found",
        "Stock item 'HOOD-GRY-M' not found by any mapping (StockCode)",
        "Return reason {'ID': '9'} not found",
    ]


def test_more_returned_than_sold_counts_earlier_returns() -> None:
    khaos = small_khaos()
    khaos.import_return(customer_return("RV-1"))
    outcome = khaos.import_return(customer_return("RV-2", item(quantity=2)))
    assert outcome.reasons == ["More returned than sold: 2 of 'TEE-BLK-M' on SO50012 (sold 2, already returned 1)"]


def test_a_duplicate_fails_the_pull_but_leaves_the_imported_return() -> None:
    khaos = small_khaos()
    khaos.import_return(customer_return())
    outcome = khaos.import_return(customer_return("RV-1", item("KIDS-TEE-7")))
    assert outcome.reasons == ["Duplicate AssociatedRef 'RV-1'"]
    record = khaos.pulled["RV-1"]
    assert (record.status, record.document["ReturnedItems"][0]["SKU"]) == ("imported", "TEE-BLK-M")
    assert [a.result for a in record.attempts] == ["imported", "duplicate"]


@pytest.mark.parametrize(
    ("sku", "mapping"),
    [
        ("5056000000031", [{"Mapping": "Barcode", "MappingItem": "EAN13"}]),
        ("SUP-1004", [{"Mapping": "OtherRef"}]),
        ("HOODIE-GREY-M", [{"Mapping": "WebCode"}]),
        ("5056000000031", [{"Mapping": "Automatic"}]),
        ("HOODIE-GREY-M", []),  # no mapping: by stock code
    ],
)
def test_each_mapping_finds_the_stock_item(sku: str, mapping: list[dict[str, str]]) -> None:
    outcome = small_khaos().import_return(customer_return("RV-1", item(sku, Mapping=mapping)))
    assert outcome.sales_return is not None
    assert outcome.sales_return.lines[0].stock_code == "HOODIE-GREY-M"


@pytest.mark.parametrize(
    ("form", "reference"),
    [
        ("SourceReference/SourceOrder", {"SourceReference": {"SourceOrder": {"SOrderCode": "SO50012"}}}),
        ("SourceReference/SourceOrder", {"SourceReference": {"SourceOrder": {"SOrderItemID": "5001201"}}}),
        ("SourceReturnReference/SourceOrder", {"SourceReturnReference": {"SourceOrder": {"SOrderID": "50012"}}}),
        ("SourceReference", {"SourceReference": {"SOrderID": "50012"}}),
    ],
)
def test_the_configured_spelling_of_the_source_order_is_read(form: str, reference: dict[str, Any]) -> None:
    khaos = small_khaos()
    khaos.source_reference_form = form
    line = {key: value for key, value in item().items() if key != "SourceReference"} | reference
    outcome = khaos.import_return(customer_return("RV-1", line))
    assert outcome.sales_return is not None
    assert outcome.sales_return.lines[0].order is not None


@pytest.mark.parametrize(
    "reference",
    [
        {"SourceReturnReference": {"SourceOrder": {"SOrderID": "50012"}}},
        {"SourceReference": {"SOrderID": "50012"}},
    ],
)
def test_another_spelling_of_the_source_order_fails_the_import(reference: dict[str, Any]) -> None:
    line = {key: value for key, value in item().items() if key != "SourceReference"} | reference
    outcome = small_khaos().import_return(customer_return("RV-1", line))
    assert not outcome.imported
    assert "SourceReference/SourceOrder" in " ".join(outcome.reasons)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda doc: doc.update(SalesSource={"Code": "REVENI"}), "SalesSource does not support matching by Code"),
        (lambda doc: doc.update(Brand={"Code": "MAIN"}), "Brand does not support matching by Code"),
        (lambda doc: doc.update(SalesSource={"Name": "SHOP"}), "SalesSource {'Name': 'SHOP'} not found"),
        (lambda doc: doc["InvoiceContact"].update(Forename="A" * 51), "InvoiceContact.Forename is 51 characters"),
        (lambda doc: doc["InvoiceContact"].update(Email="a" * 101), "InvoiceContact.Email is 101 characters"),
        (lambda doc: doc["InvoiceAddress"].update(Postcode="LS1 4AP XYZ"), "InvoiceAddress.Postcode is 11 characters"),
        (_set_item(Quantity="1"), "ReturnedItems[0].Quantity must be a number, got '1'"),
        (lambda doc: doc.update(ProcessReturn="yes"), "ProcessReturn must be true or false, got 'yes'"),
        (_set_item(UnitPrice={"Net": 20.0, "Gross": 24.0}), "UnitPrice gives both Net and Gross"),
        (_set_item(UnitPrice={"Gross": "24.00"}), "UnitPrice must hold numbers"),
        (lambda doc: doc.update(CreatedDate="2026-11-18T09:12:44+00:00"), "is not a date and time without an offset"),
    ],
)
def test_khaos_refuses_what_its_docs_do_not_allow(change: Callable[[dict[str, Any]], None], reason: str) -> None:
    document = customer_return()
    change(document)
    outcome = small_khaos().import_return(document)
    assert not outcome.imported
    assert any(reason in one for one in outcome.reasons), outcome.reasons


def test_sales_source_and_brand_by_id_or_name_and_an_unpriced_exchange_import() -> None:
    """The docs make an exchange item's UnitPrice optional (README L982): no price is fine."""
    document = customer_return(SalesSource={"Name": "REVENI"}, Brand={"ID": "1"})
    document["ExchangeItems"] = [{"SKU": "KIDS-TEE-7", "Mapping": [{"Mapping": "StockCode"}], "Quantity": 1}]
    outcome = small_khaos().import_return(document)
    assert outcome.imported, outcome.reasons


def test_xml_carries_numbers_and_booleans_as_text() -> None:
    document = customer_return("RV-1", item(quantity="1", UnitPrice={"Gross": "24.00"}), ProcessReturn="True")
    assert small_khaos().import_return(document, fmt="XML").imported


def test_a_failed_return_imports_when_retried_after_the_stock_code_fix() -> None:
    khaos = small_khaos()
    assert not khaos.import_return(customer_return("RV-1", item("TEE-BLACK-M"))).imported
    khaos.rename("1001", "TEE-BLACK-M")
    assert khaos.import_return(customer_return("RV-1", item("TEE-BLACK-M")), via="retry").imported
    assert [(a.via, a.result) for a in khaos.pulled["RV-1"].attempts] == [("pull", "failed"), ("retry", "imported")]


# --- in-process: the wire formats and the pull protocol ---------------------------------

DOCS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<CustomerReturnImport><Returns><CustomerReturn>
  <AssociatedRef>RV-X1</AssociatedRef><CreatedDate>2026-11-18T09:12:44</CreatedDate><URN>CUST0001</URN>
  <InvoiceAddress><Line1>12 High Street</Line1><Town>Leeds</Town><Country Code="GB"/></InvoiceAddress>
  <InvoiceContact><Forename>Ana</Forename></InvoiceContact>
  <ReturnedItems><ReturnedItem>
    <SKU>TEE-BLK-M</SKU><Mapping><ItemMapping><Mapping>StockCode</Mapping></ItemMapping></Mapping>
    <Quantity>1</Quantity><ReturnReason ID="2"/><ExtendedDescription />
    <SourceReference><SourceOrder><SOrderID>50012</SOrderID></SourceOrder></SourceReference>
    <UnitPrice><Gross>24.00</Gross></UnitPrice>
  </ReturnedItem></ReturnedItems>
  <ProcessReturn>true</ProcessReturn>
</CustomerReturn></Returns><ApiVersion>1000</ApiVersion>
<Config><MatchAddressOn>Address1</MatchAddressOn><MatchAddressOn>Postcode</MatchAddressOn></Config>
</CustomerReturnImport>"""


def test_an_xml_return_reads_as_the_json_one_and_imports() -> None:
    api_version, [document] = parse_returns(DOCS_XML, "XML")
    assert document["ReturnedItems"][0]["ReturnReason"] == {"ID": "2"}
    assert document["ReturnedItems"][0]["Mapping"] == [{"Mapping": "StockCode"}]
    khaos = small_khaos()
    outcome = khaos.import_return(document, api_version=api_version, fmt="XML")
    assert outcome.credit_note is not None
    assert khaos.stock["1001"].available["2"] == 1


def test_returns_given_as_one_object_are_read_as_a_list() -> None:
    _, returns = parse_returns(b'{"Returns": {"AssociatedRef": "RV-1"}, "ApiVersion": 1000}', "JSON")
    assert returns == [{"AssociatedRef": "RV-1"}]


def test_the_config_file_reads_as_json_or_xml() -> None:
    xml = "<EndpointConfig><CReturnDownload><URL>/returns</URL><Format>XML</Format><Frequency>5</Frequency>"
    xml += "</CReturnDownload></EndpointConfig>"
    endpoint = parse_config(xml, "http://channel.test/khaos/config")["CReturnDownload"]
    assert (endpoint.url, endpoint.format, endpoint.frequency_minutes) == ("http://channel.test/returns", "XML", 5)
    as_json = '{"EndpointConfig": {"StockUpload": {"URL": "http://c/stock", "Format": "JSON"}}}'
    assert parse_config(as_json, "http://c/config")["StockUpload"].url == "http://c/stock"


def test_a_stock_upload_in_xml_is_written_as_the_docs_write_it() -> None:
    """README L1561-L1601: root StockItems, `<TaxRate Code="1" ID="1">Standard</TaxRate>`, `False`."""
    khaos = small_khaos()
    body, _ = encode({"Items": [stock_item_document(khaos, khaos.stock["1001"])], "Deleted": []}, "XML", "StockItems")
    root = SafeXML.fromstring(body)
    assert root.tag == "StockItems"
    stock_item = root.find("Items/StockItem")
    assert stock_item.find("TaxRate").attrib == {"ID": "1", "Code": "1"}
    assert stock_item.find("TaxRate").text == "Standard"
    assert stock_item.find("Barcodes/StockBarcode/Barcode").text == "5056000000017"
    assert stock_item.find("Options/Discontinued").text == "False"
    assert root.find("Deleted") is not None


class Canned(BaseAdapter):
    """Answers requests from a list, in order, and keeps what was sent: a stub transport
    for the client, so the pull protocol is checked without any channel server."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]) -> None:
        super().__init__()
        self.answers, self.sent = answers, list[requests.PreparedRequest]()

    def send(  # the adapter's own signature, as requests calls it
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Any = None,
    ) -> requests.Response:
        self.sent.append(request)
        status, headers, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response.headers, response._content = status, CaseInsensitiveDict(headers), body
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        pass


CONFIG = b'{"EndpointConfig": {"CReturnDownload": {"URL": "/returns", "Format": "JSON", "Frequency": 5}}}'


def _channel(*answers: tuple[int, dict[str, str], bytes]) -> tuple[KhaosApp, Canned]:
    adapter = Canned([(200, {}, CONFIG), *answers])
    session = requests.Session()
    session.mount("http://channel.test/", adapter)
    client = ChannelClient("http://channel.test/config", "kcc", "pw", session=session, backoff_seconds=0)
    return KhaosApp(small_khaos(), client, auto_poll=False), adapter


def _pull(*documents: dict[str, Any], continuation: str = "") -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Returns": list(documents), "ApiVersion": 1000, "Config": {}}).encode()
    return 200, {"Sirion-Continuation": continuation} if continuation else {}, body


def test_poll_echoes_the_continuation_and_a_retry_leaves_it_where_it_was() -> None:
    failing = customer_return("RV-1", item("TEE-BLACK-M"))
    sandbox, channel = _channel(_pull(failing, continuation="c1"), _pull(continuation="c2"), _pull(failing))
    summary = sandbox.poll()
    assert (summary["pulls"], list(summary["failed"]), summary["continuation"]) == (2, ["RV-1"], "c2")
    sandbox.khaos.rename("1001", "TEE-BLACK-M")
    assert sandbox.retry(None)["imported"] == ["RV-1"]
    pulls = [request.headers for request in channel.sent[1:]]
    first = pulls[0]["Sirion-Continuation"]
    assert datetime.strptime(first, "%Y-%m-%d %H:%M:%SZ"), "first contact: a datetime of now (README L230)"
    assert [h["Sirion-Continuation"] for h in pulls] == [first, "c1", "c2"]
    assert pulls[2]["SpecificIDs"] == '"RV-1"'
    assert sandbox.client.continuation == "c2"
    assert all(r.headers["Authorization"].startswith("Basic ") for r in channel.sent)


def test_a_channel_error_is_retried_then_recorded() -> None:
    sandbox, _ = _channel((500, {}, b"oops"), (500, {}, b"oops"), (503, {}, b"busy"))
    summary = sandbox.poll()
    assert "503" in summary["errors"][0]
    assert sandbox.client.pulls[0].attempts == 3
    assert sandbox.client.continuation == sandbox.client.pulls[0].continuation_sent, "the next pull sends it again"


def test_a_lost_answer_is_pulled_again_with_the_same_continuation() -> None:
    returned = customer_return("RV-1")
    sandbox, channel = _channel(_pull(returned, continuation="c1"), _pull(returned, continuation="c1"), _pull())
    sandbox.client.lose_answers = 1
    lost = sandbox.poll()
    again = sandbox.poll()
    sent = [request.headers["Sirion-Continuation"] for request in channel.sent[1:]]
    assert "lost" in lost["errors"][0]
    assert again["imported"] == ["RV-1"]
    assert sent[0] == sent[1], "the same continuation again"


def test_a_refused_push_is_sent_again_before_the_next_pull() -> None:
    config = (
        b'{"EndpointConfig": {"CReturnDownload": {"URL": "/returns", "Format": "JSON", "Frequency": 5},'
        b' "StockUpload": {"URL": "/stock", "Format": "JSON"}}}'
    )
    adapter = Canned([(200, {}, config), (500, {}, b"no"), (200, {}, b"{}"), _pull()])
    session = requests.Session()
    session.mount("http://channel.test/", adapter)
    client = ChannelClient("http://channel.test/config", "kcc", "pw", session=session, attempts=1, backoff_seconds=0)
    sandbox = KhaosApp(small_khaos(), client, auto_poll=False)
    assert not client.push_stock(sandbox.khaos, [sandbox.khaos.stock["1001"]])["ok"]
    summary = sandbox.poll()
    assert [push["ok"] for push in summary["pushes_sent_again"]] == [True]
    assert [request.url for request in adapter.sent][1:3] == ["http://channel.test/stock"] * 2


def test_on_its_own_clock_it_pulls_once_per_frequency() -> None:
    """Frequency 5 minutes, a minute lasting 0.02 s: about one pull every 0.1 s, one at a time."""
    config = b'{"EndpointConfig": {"CReturnDownload": {"URL": "/returns", "Format": "JSON", "Frequency": 5}}}'
    adapter = Canned([(200, {}, config), *[_pull(continuation="c1") for _ in range(50)]])
    session = requests.Session()
    session.mount("http://channel.test/", adapter)
    client = ChannelClient("http://channel.test/config", "kcc", "pw", session=session, backoff_seconds=0)
    sandbox = KhaosApp(small_khaos(), client, minute_seconds=0.02)
    client.read_config()

    async def run_for_a_while() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sandbox._poll_forever(), timeout=0.55)

    asyncio.run(run_for_a_while())
    assert 3 <= len(client.pulls) <= 6, len(client.pulls)
