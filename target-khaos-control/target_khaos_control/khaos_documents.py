"""Khaos Control Cloud's documents, typed: the one place that knows their field names,
types and maximum lengths (shared/spec/khaos-control-cloud.md, README L394-L417 for the
lengths), for what the channel serves and what it tells Khaos of itself.

A field is declared in the order Khaos has always been served it; a field left at its
default is left out (Khaos treats null as an error), so one we always send has no default,
whether or not Khaos requires it (ProcessReturn: false must be said, not left out). JSON is
encoded from these once, with msgspec; the XML is written by `channel/khaos_xml.py`
walking the same definitions (a `DataItem` as attributes, a list as a container of one
element per entry, named as the entry's definition). Money is Decimal up to the bytes,
written as the number it is (`12.50`). Adding a header field: one line in `CustomerReturn`
plus the rule that fills it (`rules/engine.py`, `_header`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Text10 = Annotated[str, Meta(max_length=10)]
Text20 = Annotated[str, Meta(max_length=20)]
Text25 = Annotated[str, Meta(max_length=25)]
Text30 = Annotated[str, Meta(max_length=30)]
Text35 = Annotated[str, Meta(max_length=35)]
Text50 = Annotated[str, Meta(max_length=50)]
Text100 = Annotated[str, Meta(max_length=100)]
# How the XML names what JSON holds as a list of text: one element per entry.
TextLines = Annotated[list[str], Meta(extra={"xml_entry": "Line"})]
# Documented as repeated elements with no container (`<MatchAddressOn>` twice).
Repeated = Annotated[list[str], Meta(extra={"xml_repeated": True})]


class KhaosDocument(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A part of a Khaos document: fields left at their default are not sent (each
    definition is kw_only too, which msgspec does not inherit, so fields keep Khaos's order)."""


class DataItem(KhaosDocument, kw_only=True):
    """Khaos's reference to one of its own lists, by one of ID, Code or Name (XML: attributes)."""

    ID: str | None = None
    Code: str | None = None
    Name: str | None = None


class Address(KhaosDocument, kw_only=True):
    """An Address: Line1, Town and Country required; Khaos matches a customer's on Line1."""

    Line1: Text35
    Line2: Text35 | None = None
    Line3: Text35 | None = None
    Town: Text35
    County: Text35 | None = None
    Postcode: Text10 | None = None
    Country: DataItem
    Email: Text100 | None = None
    Telephone: Text25 | None = None
    Fax: Text25 | None = None
    Organisation: Text50 | None = None


class Contact(KhaosDocument, kw_only=True):
    """A Contact: a forename or a surname ("either must be filled in")."""

    Title: Text20 | None = None
    Forename: Text50 | None = None
    Surname: Text50 | None = None
    Email: Text100 | None = None
    Mobile: Text30 | None = None


class ItemMapping(KhaosDocument, kw_only=True):
    """How Khaos finds the stock item from the SKU: StockCode, OtherRef, Barcode, WebCode or Automatic."""

    Mapping: str
    MappingItem: str | None = None


class Price(KhaosDocument, kw_only=True):
    """A unit price, net or gross (never both)."""

    Net: Decimal | None = None
    Gross: Decimal | None = None


class OrderRef(KhaosDocument, kw_only=True):
    """The original sales order, by exactly one of its references."""

    AssociatedRef: str | None = None
    SOrderID: str | None = None
    SOrderCode: str | None = None
    SOrderItemID: str | None = None


class OrderReference(KhaosDocument, kw_only=True):
    """Which sales order a returned item came from (the docs' table form)."""

    SourceOrder: OrderRef


class ReturnedItem(KhaosDocument, kw_only=True):
    """A CustomerReturnItem: what comes back, why, and what Khaos credits for it."""

    SKU: str
    Mapping: list[ItemMapping]
    Quantity: int
    ReturnReason: DataItem
    ExtendedDescription: TextLines = []
    SourceReference: OrderReference | None = None
    UnitPrice: Price | None = None
    # The docs' examples' name for SourceReference (a channel setting chooses the form).
    SourceReturnReference: OrderReference | None = None


class ExchangeItem(KhaosDocument, kw_only=True):
    """A CustomerExchangeItem: what the customer gets instead."""

    SKU: str
    Mapping: list[ItemMapping]
    Quantity: int
    ExtendedDescription: TextLines = []
    UnitPrice: Price | None = None


class CustomerReturn(KhaosDocument, kw_only=True):
    """One return as Khaos imports it (CReturnDownload)."""

    AssociatedRef: str
    CreatedDate: str  # a Khaos DateTime: UK time, no offset
    URN: str
    InvoiceAddress: Address
    InvoiceContact: Contact
    DeliveryAddress: Address | None = None
    DeliveryContact: Contact | None = None
    SalesSource: DataItem | None = None
    Brand: DataItem | None = None
    Notes: str | None = None
    ReturnedItems: list[ReturnedItem]
    ExchangeItems: list[ExchangeItem] = []
    ProcessReturn: bool


class ImportConfig(KhaosDocument, kw_only=True):
    """How Khaos matches the customer of an imported return."""

    MatchAddressOn: Repeated
    MatchContactOn: Repeated


class CustomerReturnImport(KhaosDocument, kw_only=True):
    """A page of the returns feed."""

    Returns: list[CustomerReturn]
    ApiVersion: int
    Config: ImportConfig


class SalesOrderImport(KhaosDocument, kw_only=True):
    """The orders feed: the channel has none for Khaos."""

    Orders: list[Any]
    ApiVersion: int


class Endpoint(KhaosDocument, kw_only=True):
    """One endpoint of the config file: where, in which format, how often (a download)."""

    URL: str
    Format: str
    Frequency: int | None = None  # minutes between pulls


class EndpointConfig(KhaosDocument, kw_only=True):
    """What Khaos reads from the channel's config file (README L161: OrderDownload required)."""

    OrderDownload: Endpoint
    CReturnDownload: Endpoint
    StockUpload: Endpoint | None = None
    StockStatusUpload: Endpoint | None = None
    OrderStatusUpload: Endpoint | None = None


class ConfigFile(KhaosDocument, kw_only=True):
    """The config file as JSON: the endpoints under their documented root."""

    EndpointConfig: EndpointConfig


# --- what Khaos pushes (README L1561-L1601, L662, L724) ------------------------------------

# How long a pushed identifier may be: what the store keeps (its columns are these widths,
# store.py), so a longer one is refused entry by entry (channel/push_entries.py), never by
# the database.
KHAOS_ID, CODE, ORDER_REF, SITE_ID = 40, 100, 80, 20
KhaosId = Annotated[str, Meta(max_length=KHAOS_ID)]  # a StockID, an OrderID
Code = Annotated[str, Meta(max_length=CODE)]  # a StockCode, an OtherRef, a barcode
Reference = Annotated[str, Meta(max_length=ORDER_REF)]  # an OrderCode, an AssociatedRef
SiteId = Annotated[str, Meta(max_length=SITE_ID)]
OrderStatusName = Literal["Received", "Shipping", "PartialShip", "Complete", "Cancelled"]


class Barcode(KhaosDocument, kw_only=True):
    """One of a stock item's barcodes."""

    Barcode: Code
    Type: str | DataItem = ""  # the docs give no type: text ("EAN13") or a DataItem, both seen


class StockOptions(KhaosDocument, kw_only=True):
    """The options of a stock item that the rules read."""

    Discontinued: bool = False


class StockItem(KhaosDocument, kw_only=True):
    """A stock item as Khaos pushes it: StockID stays, StockCode can change."""

    StockID: KhaosId
    StockCode: Code
    OtherRef: Code = ""
    Barcodes: list[Barcode] = []
    TaxRate: DataItem | None = None
    Options: StockOptions | None = None


class StockUpload(KhaosDocument, kw_only=True):
    """A StockUpload push: items changed, and the StockIDs deleted."""

    Items: list[StockItem]
    Deleted: list[KhaosId] = []


class StockLevels(KhaosDocument, kw_only=True):
    """A stock controlled item's levels at one site."""

    Available: Decimal
    OnOrder: Decimal


class RelationshipPotential(KhaosDocument, kw_only=True):
    """What a build item could make of its parts, when it has no levels of its own."""

    FromChildren: Decimal
    FromParents: Decimal | None = None


class StockStatus(KhaosDocument, kw_only=True):
    """One item's stock at one site (JSON sends SiteID as a number)."""

    StockCode: Code = ""
    StockID: KhaosId
    SiteID: SiteId | int
    Levels: StockLevels | None = None  # absent for an item that is not stock controlled
    RelationshipPotential: RelationshipPotential | None = None


class StockStatusUpload(KhaosDocument, kw_only=True):
    """A StockStatusUpload push."""

    Statuses: list[StockStatus]


class OrderStatus(KhaosDocument, kw_only=True):
    """Where Khaos has got to with an order it downloaded from the channel."""

    OrderCode: Reference = ""
    OrderID: KhaosId
    Status: OrderStatusName
    AssociatedRef: Reference = ""


class OrderStatusUpload(KhaosDocument, kw_only=True):
    """An OrderStatusUpload push."""

    Statuses: list[OrderStatus]


# Decimal as the number it is, text unescaped: the stored body is the bytes Khaos is served.
_ENCODER = msgspec.json.Encoder(decimal_format="number")
# A stored body read back: its prices as Decimal, exactly as written.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def encode(document: KhaosDocument | Mapping[str, object]) -> str:
    """The JSON Khaos is served, as text."""
    return _ENCODER.encode(document).decode()


def decode(body: str | bytes) -> dict[str, Any]:
    """A stored document, its numbers with a point as Decimal."""
    decoded: dict[str, Any] = _DECODER.decode(body)
    return decoded


def fields_of(shape: type[msgspec.Struct]) -> tuple[msgspec.inspect.Field, ...]:
    """A definition's fields, in order, each with its type as msgspec reads it."""
    info = msgspec.inspect.type_info(shape)
    if not isinstance(info, msgspec.inspect.StructType):
        raise TypeError(f"{shape.__name__} is not a definition")
    return info.fields


@cache
def max_lengths(shape: type[KhaosDocument]) -> dict[str, int]:
    """The text fields of a definition that Khaos limits, with their maximum lengths."""
    found = {}
    for field in fields_of(shape):
        kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        for kind in kinds:
            if isinstance(kind, msgspec.inspect.StrType) and kind.max_length is not None:
                found[field.encode_name] = kind.max_length
    return found


@cache
def _limits(shape: type[KhaosDocument]) -> tuple[tuple[int, str, int], ...]:
    """Each limited field's position among the definition's fields, its name and its limit."""
    positions = {name: at for at, name in enumerate(shape.__struct_fields__)}
    return tuple((positions[name], name, most) for name, most in max_lengths(shape).items())


def too_long(fields: KhaosDocument) -> list[tuple[str, int]]:
    """The fields of an Address or Contact longer than Khaos allows, with their limits."""
    values = msgspec.structs.astuple(fields)  # every value in one call: read twice per return
    found = []
    for at, name, most in _limits(type(fields)):  # read once per definition, not per document
        value = values[at]
        if value is not None and isinstance(value, str) and len(value) > most:
            found.append((name, most))
    return found
