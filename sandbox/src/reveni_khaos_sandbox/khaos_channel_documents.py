"""The documents Khaos Control Cloud exchanges with a channel: the stock items and stock
levels it pushes, and the CustomerReturns it reads from a CReturnDownload answer, each
as JSON or XML. Pushes use the docs' XML roots and spelling (README L1561, L1687:
`StockItems`, `StockStatuses`, booleans as `True`/`False`, a DataItem's name as its text).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeXML

from reveni_khaos_sandbox.khaos_model import Khaos
from reveni_khaos_sandbox.khaos_records import StockItem

# --- what KCC sends --------------------------------------------------------------------


def stock_item_document(khaos: Khaos, item: StockItem) -> dict[str, Any]:
    return {
        "StockID": item.stock_id,
        "StockCode": item.stock_code,
        "StockDescription": item.description,
        "ShortDescription": item.description,
        "OtherRef": item.other_ref,
        "Barcodes": [{"Barcode": code, "Type": kind} for code, kind in item.barcodes],
        "TaxRate": khaos.tax_rates[item.tax_rate_id].data_item(),
        "SellPrice": {"Gross": item.sell_price},
        "Options": {"Discontinued": item.discontinued, "StockControlled": True, "RunToZero": False},
    }


def stock_status_documents(khaos: Khaos, item: StockItem) -> list[dict[str, Any]]:
    return [
        {
            "StockCode": item.stock_code,
            "StockID": item.stock_id,
            "SiteID": site_id,
            "Levels": {"Available": item.available.get(site_id, 0), "OnOrder": item.on_order.get(site_id, 0)},
        }
        for site_id in khaos.sites
    ]


# The element each list entry gets in XML, and which objects are DataItems (attributes).
XML_ITEM_TAGS = {"Items": "StockItem", "Deleted": "StockID", "Barcodes": "StockBarcode", "Statuses": "StockStatus"}
XML_DATA_ITEMS = {"TaxRate", "Type"}


def encode(document: dict[str, Any], kind: str, xml_root: str) -> tuple[bytes, str]:
    if kind == "XML":
        root = Element(xml_root)
        _fill_xml(root, document)
        return tostring(root, encoding="utf-8", xml_declaration=True), "application/xml; charset=utf-8"
    return json.dumps(document, default=_json_number).encode(), "application/json"


def _fill_xml(parent: Element, document: dict[str, Any]) -> None:
    for name, value in document.items():
        if name in XML_DATA_ITEMS and isinstance(value, dict):
            # `<TaxRate Code="1" ID="1">Standard</TaxRate>`: the name is the text (README L1572).
            attributes = {key: str(part) for key, part in value.items() if key != "Name"}
            SubElement(parent, name, attributes).text = str(value["Name"]) if "Name" in value else None
        elif isinstance(value, dict):
            _fill_xml(SubElement(parent, name), value)
        elif isinstance(value, list):
            holder = SubElement(parent, name)
            for entry in value:
                child = SubElement(holder, XML_ITEM_TAGS.get(name, "Item"))
                if isinstance(entry, dict):
                    _fill_xml(child, entry)
                else:
                    child.text = _xml_text(entry)
        else:
            SubElement(parent, name).text = _xml_text(value)


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # as the docs' XML writes them (README L1576)
    return str(value)


def _json_number(value: Any) -> float:
    """Money leaves Decimal only here, as a JSON number (the Price type is a double)."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --- what KCC reads ----------------------------------------------------------------------

# XML elements whose children are entries of a list, so a single child is still a list.
XML_LISTS = {"Returns", "ReturnedItems", "ReturnItems", "ExchangeItems", "Mapping", "ExtendedDescription"}


def parse_returns(body: bytes, kind: str) -> tuple[Any, list[Any]]:
    """(ApiVersion, CustomerReturns) from a CReturnDownload answer; ValueError if unreadable."""
    if kind == "XML":
        try:
            root = SafeXML.fromstring(body)
        except SafeXML.ParseError as error:
            raise ValueError(str(error)) from None
        if root.tag != "CustomerReturnImport":
            raise ValueError(f"the XML root must be CustomerReturnImport, not {root.tag}")
        document = _xml_value(root)
        document = document if isinstance(document, dict) else {}
    else:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the JSON must be an object with Returns and ApiVersion")
    if "Returns" not in document:
        raise ValueError("Returns is required, even when there are none")
    returns = document.get("Returns")
    if isinstance(returns, dict):
        # The docs' JSON example gives one return as an object; a <Returns> read loosely
        # may wrap them in CustomerReturn.
        returns = returns.get("CustomerReturn", returns)
        returns = returns if isinstance(returns, list) else [returns]
    returns = [_renamed_items(one) for one in returns] if isinstance(returns, list) else []
    return document.get("ApiVersion"), returns


def _renamed_items(document: Any) -> Any:
    """The docs' XML calls returned items ReturnItems in places: read both as ReturnedItems."""
    if isinstance(document, dict) and "ReturnItems" in document and "ReturnedItems" not in document:
        document = {("ReturnedItems" if key == "ReturnItems" else key): value for key, value in document.items()}
    return document


def _xml_value(element: Element) -> Any:
    """An element as the JSON the docs show: a DataItem's attributes as an object, a list
    container as a list, repeated elements as a list, a leaf as its text."""
    children = list(element)
    if not children:
        if element.attrib:
            return dict(element.attrib)
        text = (element.text or "").strip()
        return [] if element.tag in XML_LISTS and not text else text
    if element.tag in XML_LISTS:
        return [_xml_value(child) for child in children]
    found: dict[str, Any] = {}
    for child in children:
        value = _xml_value(child)
        if child.tag in found:
            earlier = found[child.tag]
            found[child.tag] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
        else:
            found[child.tag] = value
    return found
