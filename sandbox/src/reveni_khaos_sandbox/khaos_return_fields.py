"""Reading the fields of a pulled CustomerReturn as Khaos does, before any lookup in
Khaos's data: a value as JSON or XML gives it (numbers as numbers in JSON, numeric text
in XML), the documented maximum lengths (README L394-L417), a Price with Net or Gross,
not both, a DateTime without an offset (README L280). Each check appends the reasons in
Khaos's plain words; the import (`khaos_import`) looks the values up.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAPPING_TYPES = ("StockCode", "OtherRef", "Barcode", "WebCode", "Automatic")
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
