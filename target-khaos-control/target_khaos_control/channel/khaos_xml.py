"""Khaos Control Cloud's XML dialect, both ways.

Writing: a document as its definition in `khaos_documents` describes it (a DataItem as
attributes, a list as a container with one element per entry, named as the entry's
definition; a stored body read back walks the same definition), with every character
XML 1.0 forbids taken out, so one stray control character in a name can never make a
whole batch unreadable. Reading: what Khaos pushes, parsed with defusedxml (no entities,
no external references) into the same shapes as its JSON; a DataItem's text is its
`Name` (`<Courier Code="24H" ID="76">Metapack 24Hr</Courier>`, README L1442).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

# Building XML with the standard library is safe; parsing what Khaos sends uses defusedxml.
from xml.etree.ElementTree import Element, SubElement, tostring

import msgspec
from defusedxml import ElementTree as SafeTree

from target_khaos_control.documents import xml_safe
from target_khaos_control.khaos_documents import DataItem, KhaosDocument, fields_of

# Containers in what Khaos pushes; anything else with children is an object.
LIST_TAGS = {"Items", "Deleted", "Statuses", "Barcodes", "Shipments", "ShipmentItems", "Packages"}
MAX_DEPTH = 32  # the deepest documented push is 7 levels; deeper is an attack, not data


class KhaosXmlError(ValueError):
    """XML from Khaos that cannot be read, or that is not the shape its docs give."""


@dataclass(frozen=True)
class _Field:
    """How one field of a definition is written."""

    data_item: bool = False  # as attributes of its element
    repeated: bool = False  # one element per entry, with no container
    entry: str = ""  # a list's: the element of each entry
    shape: type[msgspec.Struct] | None = None  # the definition of an object, or of a list's entries


_UNKNOWN = _Field()  # not in the definition: an object, a list of `<name without s>`, or text


def render(
    root: str, document: KhaosDocument | Mapping[str, object], shape: type[KhaosDocument] | None = None
) -> bytes:
    """`document` as Khaos's XML under `root`: a definition, or a stored body read back
    (a dict) with the definition it was written from as `shape`."""
    if isinstance(document, KhaosDocument):
        shape, data = type(document), msgspec.to_builtins(document, builtin_types=(Decimal,))
    else:
        data = document
    element = Element(root)
    _fill(element, data, shape)
    body: bytes = tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _fill(element: Element, data: Mapping[str, object], shape: type[msgspec.Struct] | None) -> None:
    fields = _fields(shape) if shape is not None else {}
    for key, value in data.items():
        field = fields.get(key, _UNKNOWN)
        if field.data_item and isinstance(value, dict):
            SubElement(element, key, {k: _text(v) for k, v in value.items()})
        elif field.repeated and isinstance(value, list):
            for entry in value:
                SubElement(element, key).text = _text(entry)
        elif isinstance(value, list):
            container = SubElement(element, key)
            for entry in value:
                child = SubElement(container, field.entry or key.removesuffix("s"))
                if isinstance(entry, dict):
                    _fill(child, entry, field.shape)
                else:
                    child.text = _text(entry)
        elif isinstance(value, dict):
            _fill(SubElement(element, key), value, field.shape)
        else:
            SubElement(element, key).text = _text(value)


@cache
def _fields(shape: type[msgspec.Struct]) -> dict[str, _Field]:
    """Each field of a definition, by the name Khaos knows it by, and how it is written."""
    found = {}
    for field in fields_of(shape):
        kind, extra = field.type, dict[str, object]()
        if isinstance(kind, msgspec.inspect.Metadata):
            extra = dict(kind.extra or {})
            kind = kind.type
        if isinstance(kind, msgspec.inspect.UnionType):  # `X | None`: written as X
            kind = next(k for k in kind.types if not isinstance(k, msgspec.inspect.NoneType))
        if isinstance(kind, msgspec.inspect.ListType):
            item = kind.item_type
            cls = item.cls if isinstance(item, msgspec.inspect.StructType) else None
            entry = cls.__name__ if cls is not None else str(extra.get("xml_entry", ""))
            found[field.encode_name] = _Field(repeated=bool(extra.get("xml_repeated")), entry=entry, shape=cls)
        elif isinstance(kind, msgspec.inspect.StructType):
            data_item = issubclass(kind.cls, DataItem)
            found[field.encode_name] = _Field(data_item=data_item, shape=None if data_item else kind.cls)
    return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return xml_safe(str(value))


def parse(body: bytes, expected_root: str) -> dict[str, object]:
    """Parse a pushed XML body into what its JSON twin reads as (each entry then decoded
    into its definition, `channel/push_entries.py`)."""
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


def _read(element: Element, depth: int) -> object:
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
