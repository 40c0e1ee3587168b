"""What a Reveni return must hold before any rule reads it.

Checked once, at the start of each draft: a value that breaks the Reveni contract
(shared/spec/reveni-api.md) would otherwise be carried into Khaos silently (a zero
quantity, a negative price, a document called `RV-`) or stop the whole load. Each
finding names the field and the value, for an `invalid_record` exception.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Control characters (tab and line breaks aside). In an id they make a key no one can ask
# for again: the return is unreadable. In free text (names, addresses) they are taken out
# where a document is built (documents.xml_safe): a document is never withheld for them.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def unreadable(record: dict[str, Any]) -> list[str]:
    """Every field of `record` that breaks the contract, as `field is value: why`."""
    found = _id("id", record.get("id"))
    for name in ("created_at", "updated_at"):
        found += _timestamp(name, record.get(name))
    items = record.get("return_items")
    for n, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            found += _controls(item.get("id"), f"return_items[{n}].id")
            found += _quantity(f"return_items[{n}].quantity", item.get("quantity"))
            found += _price(f"return_items[{n}].price", item.get("price"))
    return found


def _controls(value: Any, field: str) -> list[str]:
    if isinstance(value, str) and CONTROL.search(value):
        return [f"{field} is {value!r}: an id holds no control character"]
    return []


def _id(field: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [f"{field} is {value!r}: a return's id is text, never empty"]
    if CONTROL.search(value):
        return _controls(value, field)
    if value != value.strip() or any(char in value for char in ',"'):
        # Khaos asks for documents again by a comma-separated, quoted list (SpecificIDs).
        return [f"{field} is {value!r}: an id must have no comma, quote or surrounding space"]
    return []


def _timestamp(field: str, value: Any) -> list[str]:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return [f"{field} is {value!r}: not an ISO 8601 timestamp"]
    return []


def _quantity(field: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [f"{field} is {value!r}: a returned quantity is a whole number above zero"]
    return []


def _price(field: str, value: Any) -> list[str]:
    try:
        price = Decimal(value) if isinstance(value, str | int | Decimal) and not isinstance(value, bool) else None
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite():
        return [f"{field} is {value!r}: not an amount"]
    if price < 0:
        return [f"{field} is {value!r}: a price cannot be negative"]
    return []
