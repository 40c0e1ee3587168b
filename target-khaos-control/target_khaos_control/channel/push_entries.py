"""Reading one entry of a push from Khaos: each field checked against what the store
keeps, and every problem an `EntryError` naming the field, never echoing long input.

Only what passes reaches the store and the rules, so nothing Khaos sends can fail a write
or a later target run: a lone surrogate, a NUL in a code, a level past the store's 18
digits are refused here, entry by entry.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from target_khaos_control.khaos_documents import CODE as CODE
from target_khaos_control.khaos_documents import KHAOS_ID, ORDER_REF, SITE_ID

# Column widths in the store (khaos_documents defines them): a longer value is refused
# here, never by the database.
ID, REF, SITE = KHAOS_ID, ORDER_REF, SITE_ID
LARGEST_LEVEL = Decimal(10) ** 14  # the store keeps 18 digits, 4 after the point
PLACES = Decimal("0.0001")
# The docs' table calls `Items` "an object containing an array" while their sample sends
# the array: the object's one member, named as the XML element of each entry, is read too.
ENTRY_ELEMENTS = {"StockItem", "StockID", "StockStatus", "OrderStatus"}


class EntryError(ValueError):
    """One entry we cannot keep; the message names the field."""


def as_object(entry: Any, where: str) -> dict[str, Any]:
    """The entry itself, which must be an object."""
    if not isinstance(entry, dict):
        raise EntryError(f"expected an object, got {kind_of(entry)}")
    return entry


def optional_object(entry: dict[str, Any], name: str) -> dict[str, Any]:
    """The object under `name`, or an empty one when it is absent or empty."""
    value = entry.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise EntryError(f"{name}: expected an object, got {kind_of(value)}")
    return value


def text(entry: dict[str, Any], name: str, longest: int, *, required: bool = True) -> str:
    """The field `name` as text of at most `longest` characters; empty only if not required."""
    value = entry.get(name)
    if value is None or value == "":
        if required:
            raise EntryError(f"{name}: required")
        return ""
    return scalar(value, name, longest)


def scalar(value: Any, name: str, longest: int) -> str:
    """Text or a whole number (JSON gives SiteID as a number): anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EntryError(f"{name}: expected text, got {kind_of(value)}")
    text = str(value).strip()
    if not text:
        raise EntryError(f"{name}: required")
    if len(text) > longest:
        raise EntryError(f"{name}: {len(text)} characters; at most {longest} are kept")
    if "\x00" in text:
        raise EntryError(f"{name}: holds a NUL character")
    return text


def number(entry: dict[str, Any], name: str, prefix: str = "") -> Decimal:
    """A stock level, as the store keeps it (4 places), refused past 14 digits before the point."""
    value = entry.get(name)
    if value is None or value == "":
        raise EntryError(f"{prefix}{name}: required")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise EntryError(f"{prefix}{name}: expected a number, got {kind_of(value)}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise EntryError(f"{prefix}{name}: {short(value)} is not a number") from None
    if not number.is_finite() or number.copy_abs() >= LARGEST_LEVEL:  # abs() rounds, and overflows on 1e999999999
        raise EntryError(f"{prefix}{name}: {short(value)} is not a stock level")
    number = number.quantize(PLACES)  # as the store keeps it: 1e-999999999 is 0.0000
    if abs(number) >= LARGEST_LEVEL:
        raise EntryError(f"{prefix}{name}: {short(value)} is not a stock level")
    return number


def flag(options: dict[str, Any], name: str) -> bool:
    """JSON true/false, or XML's True/False text (README L1576)."""
    value = options.get(name)
    if value is None or value == "" or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise EntryError(f"Options.{name}: expected true or false, got {short(value)}")


def barcodes(value: Any) -> list[dict[str, Any]]:
    """The item's barcodes, each with its code checked."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise EntryError(f"Barcodes: expected a list, got {kind_of(value)}")
    found = []
    for n, barcode in enumerate(value):
        if not isinstance(barcode, dict):
            raise EntryError(f"Barcodes[{n}]: expected an object, got {kind_of(barcode)}")
        found.append({"Barcode": text(barcode, "Barcode", CODE), "Type": barcode.get("Type", "")})
    return found


def data_item(entry: dict[str, Any], name: str) -> dict[str, Any]:
    """A DataItem (`{ID, Code, Name}`); a bare value is taken as its name."""
    value = entry.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    return {"Name": scalar(value, name, CODE)}


def unwrapped(entries: Any) -> Any:
    """`{"StockItem": [...]}` as its list; `{"StockItem": {...}}` (one entry) as a list of it."""
    if isinstance(entries, dict) and len(entries) == 1:
        [(name, inner)] = entries.items()
        if isinstance(inner, list):
            return inner
        if name in ENTRY_ELEMENTS and isinstance(inner, dict):
            return [inner]
    return entries


def storable(value: Any, where: str) -> None:
    """Refuse text the store cannot write: a lone surrogate (JSON's `"\\ud800"`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            storable(key, where or "a field name")
            storable(inner, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            storable(inner, f"{where}[{n}]")
    elif isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = where.encode("utf-8", "backslashreplace").decode()[:60]
            raise EntryError(f"{shown or 'the entry'}: holds a lone surrogate, which is not text") from None


def entry_key(entry: Any) -> str:
    """The entry's own id when it has a readable one, else a digest of it: the same bad
    entry pushed again is the same exception, seen again."""
    if isinstance(entry, dict):
        ids = [entry.get(name) for name in ("StockID", "OrderID")]
        site = entry.get("SiteID")
        for value in ids:
            if (
                isinstance(value, str | int)
                and not isinstance(value, bool)
                and 0 < len(str(value)) <= ID
                and text_ok(str(value))
            ):
                readable = isinstance(site, str | int) and len(str(site)) <= SITE and site != "" and text_ok(str(site))
                suffix = f"@{site}" if readable else ""
                return f"{value}{suffix}"
    digest = hashlib.sha256(json.dumps(entry, default=str, sort_keys=True).encode()).hexdigest()[:16]
    return f"entry-{digest}"


def text_ok(text: str) -> bool:
    """Text the store takes as a key: no NUL, no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def kind_of(value: Any) -> str:
    """What a value is, in words, for a message."""
    names = {bool: "true/false", int: "a number", float: "a number", Decimal: "a number", str: "text"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def short(value: Any) -> str:
    """Never echo long input: the first 40 characters, marked as cut."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
