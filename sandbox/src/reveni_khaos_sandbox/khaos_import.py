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
from reveni_khaos_sandbox.khaos_return_fields import (
    CONTACT_LENGTHS,
    _absent,
    _address_problems,
    _boolean,
    _is_datetime,
    _item_list,
    _mappings,
    _missing,
    _named_item,
    _null_paths,
    _price,
    _quantity,
    _text,
    _too_long,
    _whole,
)

if TYPE_CHECKING:
    from reveni_khaos_sandbox.khaos_model import Khaos  # only for hints: khaos_model imports this module

API_VERSION = 1000
SOURCE_KEYS = ("AssociatedRef", "SOrderID", "SOrderCode", "SOrderItemID")
REQUIRED_FIELDS = ("AssociatedRef", "CreatedDate", "URN", "InvoiceAddress", "InvoiceContact")
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
