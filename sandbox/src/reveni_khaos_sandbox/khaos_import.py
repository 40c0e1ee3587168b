"""Importing a CustomerReturn pulled from a channel, with every check a Khaos user would
see (`shared/spec/khaos-control-cloud.md`). A document either becomes a Sales Return or
fails with reasons in the plain words Khaos shows on screen; every reason of one return
is collected, not just the first, so one retry can fix them all. The checks only read
the `Khaos` they are given: recording the attempt and counting what was returned stay
with `Khaos.import_return`, so nothing here changes state.

As strict as the public docs (khaoscontrol/kcc-web-services README), so the sandbox never
hides a channel's mistake: SalesSource and Brand never by Code (L449, L452) and only ones
that exist; the documented maximum lengths (L394-L417); in JSON, numbers as numbers and
booleans as booleans (L244: "the value provided must still be of the relevant data
type"); a Price with Net or Gross, not both; a DateTime without an offset (L280); the
source order in exactly the configured form. An exchange item's UnitPrice is optional in
the docs (L982, no "Yes"), so an unpriced exchange is imported.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from reveni_khaos_sandbox.khaos_records import (
    ExchangeLine,
    OrderLine,
    ReturnLine,
    ReturnReason,
    SalesOrder,
    SalesReturn,
    StockItem,
)

if TYPE_CHECKING:
    from reveni_khaos_sandbox.khaos_model import Khaos  # only for hints: khaos_model imports this module

API_VERSION = 1000
MAPPING_TYPES = ("StockCode", "OtherRef", "Barcode", "WebCode", "Automatic")
SOURCE_KEYS = ("AssociatedRef", "SOrderID", "SOrderCode", "SOrderItemID")
REQUIRED_FIELDS = ("AssociatedRef", "CreatedDate", "URN", "InvoiceAddress", "InvoiceContact")
ADDRESS_LENGTHS = {
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
CONTACT_LENGTHS = {"Title": 20, "Forename": 50, "Surname": 50, "Email": 100, "Mobile": 30}
SOURCE_FORMS = ("SourceReference/SourceOrder", "SourceReturnReference/SourceOrder", "SourceReference")
MISSING_REF = "(no AssociatedRef)"


def associated_ref(document: Any) -> str:
    """The AssociatedRef a pulled document names; empty when it names none."""
    return _text(document.get("AssociatedRef")) if isinstance(document, dict) else ""


def asks_to_process(document: dict[str, Any]) -> bool:
    """ProcessReturn, as JSON true or XML's text "true"."""
    return _boolean(document.get("ProcessReturn"))


def check_return(
    khaos: Khaos, document: dict[str, Any], api_version: Any, ref: str, now: datetime, *, typed: bool = True
) -> tuple[list[str], SalesReturn | None]:
    """Every reason `document` cannot be imported, or the Sales Return it becomes.
    `typed`: the document came as JSON, so its numbers and booleans must be typed."""
    if _whole(api_version) != API_VERSION:
        return [f"ApiVersion {api_version!r} is not supported; Khaos needs {API_VERSION}"], None
    reasons = [f"Null value at {path}" for path in _null_paths(document)]
    reasons += [f"Missing required field {name}" for name in REQUIRED_FIELDS if _missing(document, name)]
    created = document.get("CreatedDate")
    if not _absent(created) and not _is_datetime(created):
        reasons.append(f"CreatedDate {created!r} is not a date and time without an offset, like 2018-01-18T12:20:48")
    process = document.get("ProcessReturn")
    if not _absent(process) and not (
        isinstance(process, bool) if typed else _text(process).lower() in ("true", "false")
    ):
        reasons.append(f"ProcessReturn must be true or false, got {process!r}")
    for name in ("SalesSource", "Brand"):
        reasons += _named_item(name, document.get(name), khaos.sales_sources if name == "SalesSource" else khaos.brands)
    for name in ("InvoiceAddress", "DeliveryAddress"):
        reasons += _address_problems(name, document.get(name))
    for name in ("InvoiceContact", "DeliveryContact"):
        contact = document.get(name)
        if isinstance(contact, dict) and _absent(contact.get("Forename")) and _absent(contact.get("Surname")):
            reasons.append(f"{name} needs a Forename or a Surname")
        reasons += _too_long(name, contact, CONTACT_LENGTHS)
    urn = _text(document.get("URN"))
    customer = khaos.customers.get(urn)
    if urn and customer is None:
        reasons.append(f"Customer URN {urn!r} not found")
    returned = _item_list(document, "ReturnedItems", reasons)
    exchanged = _item_list(document, "ExchangeItems", reasons)
    if not returned and not exchanged:
        reasons.append("The return has no ReturnedItems or ExchangeItems")
    claimed: Counter[tuple[str, str]] = Counter()
    lines = [
        _returned_line(khaos, item, f"ReturnedItems[{n}]", urn, claimed, reasons, typed)
        for n, item in enumerate(returned)
    ]
    swaps = [_exchange_line(khaos, item, f"ExchangeItems[{n}]", reasons, typed) for n, item in enumerate(exchanged)]
    if reasons:
        return list(dict.fromkeys(reasons)), None  # two lines of one unknown SKU: one reason
    kept_lines = tuple(line for line in lines if line is not None)
    kept_swaps = tuple(swap for swap in swaps if swap is not None)
    orders = [line.order for line in kept_lines if line.order is not None]
    currency = orders[0].currency if orders else customer.currency if customer else "GBP"
    return [], SalesReturn(ref, urn, currency, kept_lines, kept_swaps, now)


def _returned_line(
    khaos: Khaos,
    item: Any,
    where: str,
    urn: str,
    claimed: Counter[tuple[str, str]],
    reasons: list[str],
    typed: bool = True,
) -> ReturnLine | None:
    if not isinstance(item, dict):
        reasons.append(f"{where} must be an object")
        return None
    stock = _stock_of(khaos, item, where, reasons)
    quantity = _quantity(item, where, reasons, typed)
    reason = _reason_of(khaos, item, where, reasons)
    unit_gross, unit_net = _price(item, where, reasons, typed)
    order, order_line = _source_order(khaos, item, reasons)
    if order is not None and urn in khaos.customers and order.urn != urn:
        reasons.append(f"Source order {order.code} belongs to customer {order.urn!r}, not {urn!r}")
    if stock is None or quantity is None or reason is None:
        return None
    if order is not None:
        _check_sold(khaos, order, order_line, stock, quantity, claimed, reasons)
    return ReturnLine(stock.stock_id, stock.stock_code, quantity, reason, unit_gross, unit_net, order)


def _exchange_line(khaos: Khaos, item: Any, where: str, reasons: list[str], typed: bool = True) -> ExchangeLine | None:
    if not isinstance(item, dict):
        reasons.append(f"{where} must be an object")
        return None
    stock = _stock_of(khaos, item, where, reasons, what="Exchange stock item")
    quantity = _quantity(item, where, reasons, typed)
    unit_gross, unit_net = _price(item, where, reasons, typed)  # optional (README L982), but a Price when given
    if stock is None or quantity is None:
        return None
    return ExchangeLine(stock.stock_id, stock.stock_code, quantity, unit_gross, unit_net)


def _stock_of(
    khaos: Khaos, item: dict[str, Any], where: str, reasons: list[str], what: str = "Stock item"
) -> StockItem | None:
    sku = _text(item.get("SKU"))
    mappings = _mappings(item.get("Mapping"), where, reasons)
    if _missing(item, "SKU"):
        reasons.append(f"Missing required field {where}.SKU")
    if not sku or mappings is None:
        return None
    stock = khaos.find_stock(sku, mappings)
    if stock is None:
        kinds = ", ".join(kind for kind, _ in mappings)
        reasons.append(f"{what} {sku!r} not found by any mapping ({kinds})")
    elif stock.discontinued:
        reasons.append(f"{what} {stock.stock_code!r} is discontinued")
    return stock


def _reason_of(khaos: Khaos, item: dict[str, Any], where: str, reasons: list[str]) -> ReturnReason | None:
    given = item.get("ReturnReason")
    if _missing(item, "ReturnReason"):
        reasons.append(f"Missing required field {where}.ReturnReason")
        return None
    if not isinstance(given, dict):
        if given is not None:
            reasons.append(f"{where}.ReturnReason must be a DataItem naming an ID, Code or Name")
        return None
    found = next((reason for reason in khaos.reasons if reason.named_by(given)), None)
    if found is None:
        reasons.append(f"Return reason {given!r} not found")
    return found


def _source_order(khaos: Khaos, item: dict[str, Any], reasons: list[str]) -> tuple[SalesOrder | None, OrderLine | None]:
    """The source order in exactly the form this Khaos is set to read (the docs give three)."""
    outer = (
        "SourceReturnReference"
        if khaos.source_reference_form.startswith("SourceReturnReference")
        else "SourceReference"
    )
    nested = khaos.source_reference_form.endswith("/SourceOrder")
    for other in {"SourceReference", "SourceReturnReference"} - {outer}:
        if not _absent(item.get(other)):
            reasons.append(f"{other} is not read here: this Khaos reads {khaos.source_reference_form}")
    reference = item.get(outer)
    if _absent(reference):
        return None, None
    keys = reference.get("SourceOrder") if nested and isinstance(reference, dict) else reference
    if not isinstance(keys, dict) or (not nested and "SourceOrder" in keys):
        reasons.append(f"{outer} must be shaped as {khaos.source_reference_form}")
        return None, None
    given = {key: _text(keys.get(key)) for key in SOURCE_KEYS}
    given = {key: value for key, value in given.items() if value}
    if len(given) != 1:
        reasons.append(f"Source reference must name exactly one of {', '.join(SOURCE_KEYS)}")
        return None, None
    [(key, value)] = given.items()
    order, line = khaos.order_by(key, value)
    if order is None:
        reasons.append(f"Source order {given!r} not found")
    return order, line


def _check_sold(
    khaos: Khaos,
    order: SalesOrder,
    line: OrderLine | None,
    stock: StockItem,
    quantity: int,
    claimed: Counter[tuple[str, str]],
    reasons: list[str],
) -> None:
    lines = [one for one in order.lines if one.stock_id == stock.stock_id and (line is None or one is line)]
    if not lines:
        reasons.append(f"Stock item {stock.stock_code!r} is not on {order.code}")
        return
    key = (order.order_id, stock.stock_id)
    sold = sum(one.quantity for one in lines)
    before = khaos.returned[key] + claimed[key]
    if before + quantity > sold:
        reasons.append(
            f"More returned than sold: {quantity} of {stock.stock_code!r} on {order.code} "
            f"(sold {sold}, already returned {before})"
        )
    claimed[key] += quantity


# --- reading a CustomerReturn ---------------------------------------------------------


def _mappings(raw: Any, where: str, reasons: list[str]) -> list[tuple[str, str]] | None:
    """The item's Mapping list as (type, barcode type); StockCode when none is given."""
    if _absent(raw):
        return [("StockCode", "")]
    entries = raw if isinstance(raw, list) else [raw]
    found: list[tuple[str, str]] = []
    for entry in entries:
        kind = _text(entry.get("Mapping")) if isinstance(entry, dict) else _text(entry)
        if kind not in MAPPING_TYPES:
            reasons.append(f"{where}.Mapping: unknown mapping type {kind!r} (use {', '.join(MAPPING_TYPES)})")
            return None
        found.append((kind, _text(entry.get("MappingItem")) if isinstance(entry, dict) else ""))
    return found


def _quantity(item: dict[str, Any], where: str, reasons: list[str], typed: bool = True) -> int | None:
    if _missing(item, "Quantity"):
        reasons.append(f"Missing required field {where}.Quantity")
        return None
    raw = item.get("Quantity")
    if raw is None:
        return None
    if typed and (isinstance(raw, bool) or not isinstance(raw, int | float | Decimal)):
        reasons.append(f"{where}.Quantity must be a number, got {raw!r}")
        return None
    quantity = _number(raw)
    if quantity is None or quantity <= 0 or quantity != quantity.to_integral_value():
        reasons.append(f"{where}.Quantity must be a whole number above 0, got {raw!r}")
        return None
    return int(quantity)


def _price(
    item: dict[str, Any], where: str, reasons: list[str], typed: bool = True
) -> tuple[Decimal | None, Decimal | None]:
    """(unit gross, unit net) from the item's UnitPrice; a Price holds Net or Gross, not both."""
    price = item.get("UnitPrice")
    if _absent(price):
        return None, None
    parts = {name: price.get(name) for name in ("Gross", "Net")} if isinstance(price, dict) else {}
    parts = {name: value for name, value in parts.items() if not _absent(value)}
    if typed and any(
        isinstance(value, bool) or not isinstance(value, int | float | Decimal) for value in parts.values()
    ):
        reasons.append(f"{where}.UnitPrice must hold numbers, got {price!r}")
        return None, None
    given = {name: _number(value) for name, value in parts.items()}
    if len(given) == 2:
        reasons.append(f"{where}.UnitPrice gives both Net and Gross; give one")
        return None, None
    if given and all(value is not None and value >= 0 for value in given.values()):
        return given.get("Gross"), given.get("Net")
    reasons.append(f"{where}.UnitPrice must hold Net or Gross as a number of 0 or more, got {price!r}")
    return None, None


def _named_item(name: str, given: Any, known: dict[str, str]) -> list[str]:
    """SalesSource or Brand: an existing one, by ID or Name, never by Code (README L449, L452)."""
    if _absent(given):
        return []
    if not isinstance(given, dict):
        return [f"{name} must be a DataItem naming an ID or a Name"]
    if "Code" in given:
        return [f"{name} does not support matching by Code: give its ID or Name"]
    if _text(given.get("ID")) in known or _text(given.get("Name")) in known.values():
        return []
    return [f"{name} {given!r} not found"]


def _too_long(name: str, fields: Any, lengths: dict[str, int]) -> list[str]:
    if not isinstance(fields, dict):
        return []
    return [
        f"{name}.{part} is {len(_text(fields.get(part)))} characters long; Khaos allows {most}"
        for part, most in lengths.items()
        if len(_text(fields.get(part))) > most
    ]


def _address_problems(name: str, address: Any) -> list[str]:
    if not isinstance(address, dict):
        return [] if _absent(address) else [f"{name} must be an object"]
    problems = [
        f"Missing required field {name}.{part}" for part in ("Line1", "Town", "Country") if _missing(address, part)
    ]
    country = address.get("Country")
    if isinstance(country, dict) and not any(country.get(key) for key in ("ID", "Code", "Name")):
        problems.append(f"{name}.Country must name an ID, Code or Name")
    return problems + _too_long(name, address, ADDRESS_LENGTHS)


def _item_list(document: dict[str, Any], name: str, reasons: list[str]) -> list[Any]:
    items = document.get(name)
    if _absent(items):
        return []
    if not isinstance(items, list):
        reasons.append(f"{name} must be a list")
        return []
    return items


def _null_paths(value: Any, path: str = "") -> list[str]:
    """Where a document holds null: Khaos treats each as an error."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in _null_paths(child, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [p for n, child in enumerate(value) for p in _null_paths(child, f"{path}[{n}]")]
    return []


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _missing(container: dict[str, Any], name: str) -> bool:
    """Absent or empty; a null is reported as a null instead, not twice."""
    return name not in container or (container[name] is not None and _absent(container[name]))


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _number(value: Any) -> Decimal | None:
    """A JSON number or, as XML gives it, numeric text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == number.to_integral_value() else None


def _boolean(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _is_datetime(value: Any) -> bool:
    """RFC 3339 without the timezone offset (README L280): an offset is refused."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return moment.tzinfo is None
