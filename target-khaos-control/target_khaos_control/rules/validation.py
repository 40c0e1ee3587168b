"""What a Reveni return must hold before any rule reads it, and the typed return it then is.

Checked once, at the start of each draft (the rules then read the typed `reveni.Return`): a value that breaks the Reveni contract
(shared/spec/reveni-api.md) would otherwise be carried into Khaos silently (a zero
quantity, a negative price, a document called `RV-`) or stop the whole load. Each
finding names the field and the value, for an `invalid_record` exception.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from msgspec import UNSET

from target_khaos_control.reveni import Return, ReturnItem, Sent, read, shown

# Control characters (tab and line breaks aside). In an id they make a key no one can ask
# for again: the return is unreadable. In free text (names, addresses) they are taken out
# where a document is built (documents.xml_safe): a document is never withheld for them.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217, as the store's column and Khaos hold it
# More of one item than any shop returns: beyond it a quantity is a mistake, and Khaos's
# figures (quantity times price) would no longer be exact.
MAX_QUANTITY = 100_000
MAX_DIGITS = 12  # digits before the point in an amount: a billion pounds is no return


def checked(record: Sent, *, written: bool = False) -> Return | list[str]:
    """`record` as a typed Reveni return; or every field of it that breaks tap-reveni's
    schema (the first break) or the contract beyond it, as `field is value: why`
    (`written`: msgspec wrote the record already, as `reveni.read` says)."""
    typed = read(record, written=written)
    if not isinstance(typed, str) and _surely_kept(typed):  # most returns: `_contract` would find nothing
        return typed
    found = _contract(record)
    if not isinstance(typed, str):
        return found or typed
    field = typed.split(" ", 1)[0]
    return [typed, *(finding for finding in found if finding.split(" ", 1)[0] != field)]


def unreadable(record: Sent) -> list[str]:
    """Every field of `record` that breaks tap-reveni's schema (the first break) or the
    contract beyond it, as `field is value: why`."""
    found = checked(record)
    return found if isinstance(found, list) else []


def _contract(record: Sent) -> list[str]:
    found = _id("id", record.get("id"))
    for name in ("created_at", "updated_at"):
        found += _timestamp(name, record.get(name))
    currency = record.get("currency")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        found.append(f"currency is {currency!r}: not a currency code (three capital letters, like GBP)")
    items = record.get("return_items")
    for n, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            found += _item_findings(n, item)
    return found


def _surely_kept(typed: Return) -> bool:
    """Whether `_contract` surely finds nothing in the record `typed` was read from, seen on the
    typed return: its values are the record's own, of the types and patterns `read` checked,
    so the look needs few regexes. True only where each check of `_contract` surely passes."""
    currency = typed.currency
    if not (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
        return False
    if not (_in_utc(typed.created_at) and _in_utc(typed.updated_at)) or _id("id", typed.id):
        return False
    for item in typed.return_items or ():  # noqa: SIM110 (all() of a generator cost more than one item)
        if not _plainly_kept(item):
            return False
    return True


def _in_utc(stamp: object) -> bool:
    """Whether a typed return's timestamp (RFC 3339, on a day its month has, in a year but 0:
    `read` checked) is one Python reads, in UTC already (Reveni's form, or `sinks._iso`'s)."""
    return type(stamp) is str and stamp[-1] == "Z" and stamp[10] == "T" and (len(stamp) == 20 or len(stamp) == 27)


def _kept_amount(amount: object) -> bool:
    """Whether `_price` surely passes a typed amount (`reveni.Money`: digits with an optional
    sign and decimals): not negative, at most MAX_DIGITS + 1 digits before an optional point."""
    if type(amount) is not str or amount[0] == "-":
        return False
    return len(amount) <= MAX_DIGITS + 1 or 0 < amount.find(".") <= MAX_DIGITS + 1


def _plainly_kept(item: ReturnItem) -> bool:
    """Whether `_item_findings` surely finds nothing in a typed item: True only where each of its checks surely passes."""
    quantity, sku = item.quantity, item.sku
    if not (
        item.id.isprintable()  # no control character (a rarer one is left to `_item_findings`)
        and type(quantity) is int
        and 1 <= quantity <= MAX_QUANTITY
        and _kept_amount(item.price)
        and _kept_amount(item.total)
        and type(sku) is str
        and sku != ""
        and not sku.isspace()
    ):
        return False
    exchange = item.exchange
    if exchange is None or exchange is UNSET:
        return True
    sku, quantity, price = exchange.sku, exchange.quantity, exchange.price
    return (
        type(sku) is str
        and sku != ""
        and not sku.isspace()
        and (quantity is None or quantity is UNSET or (type(quantity) is int and 1 <= quantity <= MAX_QUANTITY))
        and (price is None or price is UNSET or _kept_amount(price))
    )


def _item_findings(n: int, item: dict[str, Any]) -> list[str]:
    """What breaks the contract in the `n`th item, each named by its field."""
    found = _controls(item.get("id"), f"return_items[{n}].id")
    found += _quantity(f"return_items[{n}].quantity", item.get("quantity"))
    found += _price(f"return_items[{n}].price", item.get("price"))
    found += _price(f"return_items[{n}].total", item.get("total"))
    found += _sku(f"return_items[{n}].sku", item.get("sku"))
    exchange = item.get("exchange")
    if isinstance(exchange, dict):  # the item the customer takes instead goes to Khaos too
        found += _sku(f"return_items[{n}].exchange.sku", exchange.get("sku"))
        if exchange.get("quantity") is not None:
            found += _quantity(f"return_items[{n}].exchange.quantity", exchange["quantity"])
        if exchange.get("price") is not None:
            found += _price(f"return_items[{n}].exchange.price", exchange["price"])
    return found


def _sku(field: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [f"{field} is {shown(value)}: an item needs its SKU to go to Khaos"]
    return []


def _controls(value: Any, field: str) -> list[str]:
    if isinstance(value, str) and CONTROL.search(value):
        return [f"{field} is {value!r}: an id holds no control character"]
    return []


def _id(field: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [f"{field} is {value!r}: a return's id is text, never empty"]
    if not value.isprintable() and CONTROL.search(value):  # printable: surely no control character
        return _controls(value, field)
    if value != value.strip() or "," in value or '"' in value:
        # Khaos asks for documents again by a comma-separated, quoted list (SpecificIDs).
        return [f"{field} is {value!r}: an id must have no comma, quote or surrounding space"]
    return []


def _timestamp(field: str, value: Any) -> list[str]:
    try:
        moment = datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case t and z
    except (AttributeError, ValueError):
        return [f"{field} is {shown(value)}: not an ISO 8601 timestamp"]
    try:
        moment.astimezone(UTC)  # year 1 ahead of UTC, or 9999 behind it, is no moment in UTC
    except OverflowError:
        return [f"{field} is {value!r}: out of range once in UTC"]
    return []


def _quantity(field: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        return [f"{field} is {shown(value)}: a returned quantity is a whole number from 1 to {MAX_QUANTITY}"]
    return []


def _price(field: str, value: Any) -> list[str]:
    try:
        price = Decimal(value) if isinstance(value, str | int | Decimal) and not isinstance(value, bool) else None
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or price.adjusted() > MAX_DIGITS:
        return [f"{field} is {shown(value)}: not an amount"]
    if price < 0:
        return [f"{field} is {value!r}: {'a price' if field.endswith('price') else 'an amount'} cannot be negative"]
    return []
