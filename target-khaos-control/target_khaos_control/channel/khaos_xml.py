"""Khaos Control Cloud's XML dialect, both ways.

Writing: the same document dicts the JSON feed serves, as the documented XML (DataItems
as attributes, arrays as a container with one element per entry), with every character
XML 1.0 forbids taken out, so one stray control character in a name can never make a
whole batch unreadable. Reading: what Khaos pushes, parsed with defusedxml (no entities,
no external references) into the same shapes as its JSON; a DataItem's text is its
`Name` (`<Courier Code="24H" ID="76">Metapack 24Hr</Courier>`, README L1442).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# Building XML with the standard library is safe; parsing what Khaos sends uses defusedxml.
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml import ElementTree as SafeTree

from target_khaos_control.documents import xml_safe

DATA_ITEMS = {"ReturnReason", "Country", "Brand", "SalesSource", "TaxRate", "Currency"}
ENTRY_TAGS = {
    "Returns": "CustomerReturn",
    "ReturnedItems": "ReturnedItem",
    "ExchangeItems": "ExchangeItem",
    "Mapping": "ItemMapping",
    "ExtendedDescription": "Line",
}
REPEATED = {"MatchAddressOn", "MatchContactOn"}  # documented as repeated elements, no container
# Containers in what Khaos pushes; anything else with children is an object.
LIST_TAGS = {"Items", "Deleted", "Statuses", "Barcodes", "Shipments", "ShipmentItems", "Packages"}
MAX_DEPTH = 32  # the deepest documented push is 7 levels; deeper is an attack, not data


class KhaosXmlError(ValueError):
    """XML from Khaos that cannot be read, or that is not the shape its docs give."""


def render(root: str, data: dict[str, Any]) -> bytes:
    """A document as Khaos's XML under the root element `root`, with its declaration."""
    element = Element(root)
    _fill(element, data)
    body: bytes = tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _fill(element: Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key in DATA_ITEMS and isinstance(value, dict):
            SubElement(element, key, {k: _text(v) for k, v in value.items()})
        elif key in REPEATED:
            for entry in value:
                SubElement(element, key).text = _text(entry)
        elif isinstance(value, list):
            container = SubElement(element, key)
            for entry in value:
                child = SubElement(container, ENTRY_TAGS.get(key, key.removesuffix("s")))
                if isinstance(entry, dict):
                    _fill(child, entry)
                else:
                    child.text = _text(entry)
        elif isinstance(value, dict):
            _fill(SubElement(element, key), value)
        else:
            SubElement(element, key).text = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return xml_safe(str(value))


def parse(body: bytes, expected_root: str) -> dict[str, Any]:
    """Parse a pushed XML body into the dict its JSON twin would give."""
    try:
        root = SafeTree.fromstring(body)
    except SafeTree.ParseError as error:
        raise KhaosXmlError(f"not well-formed XML: {error}") from None
    except Exception as error:  # defusedxml refuses entities and DTDs with its own errors
        raise KhaosXmlError(f"XML refused: {type(error).__name__}") from None
    if root.tag != expected_root:
        raise KhaosXmlError(f"expected root element <{expected_root}>, got <{str(root.tag)[:60]}>")
    value = _read(root, 0)
    return value if isinstance(value, dict) else {}


def _read(element: Element, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise KhaosXmlError(f"XML nested deeper than {MAX_DEPTH} elements")
    children = list(element)
    if element.tag in LIST_TAGS:
        return [_read(child, depth + 1) for child in children]
    text = (element.text or "").strip()
    if not children:
        if element.attrib:
            # A DataItem: ID and Code as attributes, the name as the element's text.
            return dict(element.attrib) | ({"Name": text} if text and "Name" not in element.attrib else {})
        return text
    return {child.tag: _read(child, depth + 1) for child in children}
