"""Reading one entry of a push from Khaos: decoded into its definition in `khaos_documents`
(`StockItem`, `StockStatus`, `OrderStatus`) with msgspec, and every problem an `EntryError`
naming the field, in our words, never echoing long input.

Only what passes reaches the store and the rules, so nothing Khaos sends can fail a write
or a later target run: a lone surrogate, a NUL in a code, a level past the store's 18
digits are refused here, entry by entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TypeVar, get_args

import msgspec

from target_khaos_control.khaos_documents import CODE as CODE
from target_khaos_control.khaos_documents import (
    KHAOS_ID,
    ORDER_REF,
    SITE_ID,
    DataItem,
    KhaosDocument,
    OrderStatus,
    OrderStatusName,
    fields_of,
    max_lengths,
)

# Column widths in the store (khaos_documents defines them): a longer value is refused
# here, never by the database.
ID, REF, SITE = KHAOS_ID, ORDER_REF, SITE_ID
LARGEST_LEVEL = Decimal(10) ** 14  # the store keeps 18 digits, 4 after the point
PLACES = Decimal("0.0001")
ORDER_STATUSES = frozenset(get_args(OrderStatusName))
# The docs' table calls `Items` "an object containing an array" while their sample sends
# the array: the object's one member, named as the XML element of each entry, is read too.
ENTRY_ELEMENTS = {"StockItem", "StockID", "StockStatus", "OrderStatus"}

Entry = TypeVar("Entry", bound=KhaosDocument)


class EntryError(ValueError):
    """One entry we cannot keep; the message names the field."""


def decoded(entry: object, shape: type[Entry]) -> Entry:
    """The entry as its definition, or an `EntryError` naming the first field that is wrong."""
    if not isinstance(entry, dict):
        raise EntryError(f"expected an object, got {kind_of(entry)}")
    prepared = _prepared(entry, shape)
    try:
        typed = msgspec.convert(prepared, shape)
    except msgspec.ValidationError as error:
        raise EntryError(_worded(str(error), prepared)) from None
    return typed


def order_status(entry: object) -> OrderStatus:
    """An OrderStatus. The samples and order_status.php say `Status`; the table (README
    L662) says `OrderStatus`. Either is read; two that disagree are refused."""
    if isinstance(entry, dict) and "OrderStatus" in entry:
        given, table = entry.get("Status"), entry["OrderStatus"]
        if "Status" in entry and _stripped(given) != _stripped(table):
            raise EntryError(f"Status {short(given)} and OrderStatus {short(table)} disagree")
        entry = {name: value for name, value in entry.items() if name != "OrderStatus"} | {"Status": table}
    return decoded(entry, OrderStatus)


def scalar(value: object, name: str, longest: int) -> str:
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


def deleted_id(entry: object) -> str:
    """A StockID of `Deleted`: bare (the docs' JSON) or as `{StockID: ...}`."""
    value = entry.get("StockID") if isinstance(entry, dict) else entry
    if value is None or value == "":
        raise EntryError("StockID: required")
    return scalar(value, "StockID", ID)


def unwrapped(entries: object) -> object:
    """`{"StockItem": [...]}` as its list; `{"StockItem": {...}}` (one entry) as a list of it."""
    if isinstance(entries, dict) and len(entries) == 1:
        [(name, inner)] = entries.items()
        if isinstance(inner, list):
            return inner
        if name in ENTRY_ELEMENTS and isinstance(inner, dict):
            return [inner]
    return entries


def storable(value: object, where: str) -> None:
    """Refuse text the store cannot write: a lone surrogate (JSON's `"\\ud800"`). Most entries
    hold none, seen at once by writing them as UTF-8 (msgspec); only one that holds one, or a
    value msgspec does not write, is walked field by field to name where."""
    try:
        _UTF8.encode(value)
    except (msgspec.EncodeError, TypeError, UnicodeError):
        _walked(value, where)


_UTF8 = msgspec.json.Encoder()


def _walked(value: object, where: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _walked(key, where or "a field name")
            _walked(inner, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _walked(inner, f"{where}[{n}]")
    elif isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = where.encode("utf-8", "backslashreplace").decode()[:60]
            raise EntryError(f"{shown or 'the entry'}: holds a lone surrogate, which is not text") from None


def entry_key(entry: object) -> str:
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


def kind_of(value: object) -> str:
    """What a value is, in words, for a message."""
    names = {bool: "true/false", int: "a number", float: "a number", Decimal: "a number", str: "text"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def short(value: object) -> str:
    """Never echo long input: the first 40 characters, marked as cut."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


# --- before msgspec: what Khaos's two formats say loosely, said as the definition does ----


@cache
def _field_kinds(shape: type[msgspec.Struct]) -> dict[str, tuple[str, type[msgspec.Struct] | None]]:
    """Each field of a definition: text (a "column" when the store keeps it as one: it has a
    maximum length), a flag, a stock level, a DataItem, an object or a list of objects (with
    its definition), or anything else msgspec reads as it is."""
    found: dict[str, tuple[str, type[msgspec.Struct] | None]] = {}
    columns = max_lengths(shape) if issubclass(shape, KhaosDocument) else {}
    for field in fields_of(shape):
        kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        kinds = tuple(kind for kind in kinds if not isinstance(kind, msgspec.inspect.NoneType))
        kind = kinds[0]
        if any(isinstance(k, msgspec.inspect.StrType) for k in kinds):  # text, or text or a definition
            shape_of = next((k.cls for k in kinds if isinstance(k, msgspec.inspect.StructType)), None)
            found[field.encode_name] = ("column" if field.encode_name in columns else "text", shape_of)
        elif isinstance(kind, msgspec.inspect.BoolType):
            found[field.encode_name] = ("flag", None)
        elif isinstance(kind, msgspec.inspect.DecimalType):  # the one number Khaos pushes
            found[field.encode_name] = ("stock level", None)
        elif isinstance(kind, msgspec.inspect.StructType):
            found[field.encode_name] = ("data item" if kind.cls is DataItem else "object", kind.cls)
        elif isinstance(kind, msgspec.inspect.ListType) and isinstance(kind.item_type, msgspec.inspect.StructType):
            found[field.encode_name] = ("list", kind.item_type.cls)
        else:
            found[field.encode_name] = ("as is", None)
    return found


def _prepared(entry: dict[object, object], shape: type[msgspec.Struct], where: str = "") -> dict[str, object]:
    """The entry's fields of the definition, as msgspec reads them: text stripped; empty
    (XML's `<Levels/>`), null or `{}` as absent; a whole number where text is wanted as its
    digits (JSON's SiteID); XML's True/False text as a flag; a bare DataItem as its Name;
    a stock level, and a NUL in text the store keeps as a column (a code, an id), checked
    here, in the entry's order. Other fields are left out (the payload keeps them as JSON,
    where a NUL is written `\\u0000`)."""
    kinds, prepared = _field_kinds(shape), {}
    for name, value in entry.items():
        if not isinstance(name, str) or name not in kinds:
            continue
        value = value.strip() if isinstance(value, str) else value
        if value is None or value == "" or value == {}:
            continue
        kind, inner = kinds[name]
        if kind in ("text", "column") and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif kind == "flag" and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif kind == "data item" and isinstance(value, str | int) and not isinstance(value, bool):
            value = {"Name": str(value)}
        elif kind == "stock level":
            value = _level(value, _joined(where, name))
        if kind == "column" and isinstance(value, str) and "\x00" in value:
            raise EntryError(f"{_joined(where, name)}: holds a NUL character")
        if inner is not None and isinstance(value, dict):
            value = _prepared(value, inner, _joined(where, name))
        elif inner is not None and isinstance(value, list):
            value = [
                _prepared(each, inner, f"{_joined(where, name)}[{n}]") if isinstance(each, dict) else each
                for n, each in enumerate(value)
            ]
        prepared[name] = value
    return prepared


def _level(value: object, where: str) -> Decimal:
    """A stock level as the store keeps it (4 places), refused past 14 digits before the point."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise EntryError(f"{where}: expected a number, got {kind_of(value)}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise EntryError(f"{where}: {short(value)} is not a number") from None
    # abs() rounds, and overflows on 1e999999999: compare the exact magnitude
    if not number.is_finite() or number.copy_abs() >= LARGEST_LEVEL:
        raise EntryError(f"{where}: {short(value)} is not a stock level")
    number = number.quantize(PLACES)  # as the store keeps it: 1e-999999999 is 0.0000
    if abs(number) >= LARGEST_LEVEL:
        raise EntryError(f"{where}: {short(value)} is not a stock level")
    return number


# --- after msgspec: its errors in our words -----------------------------------------------

_ERROR = re.compile(r"(?P<what>.*?)(?: - at `\$\.?(?P<path>.*)`)?", re.DOTALL)
_WORDS = {"str": "text", "object": "an object", "array": "a list", "decimal": "a number", "int": "a number"}
_WORDS |= {"float": "a number", "bool": "true/false", "null": "null"}


def _worded(message: str, prepared: dict[str, object]) -> str:
    """msgspec's `Expected `str`, got `int` - at `$.StockID`` as `StockID: expected text, got a number`."""
    found = _ERROR.fullmatch(message)
    what, where = (found["what"], found["path"] or "") if found else (message, "")
    raw = _at(prepared, where)
    if missing := re.fullmatch(r"Object missing required field `(.+)`", what):
        return f"{_joined(where, missing[1])}: required"
    if longest := re.fullmatch(r"Expected `str` of length <= (\d+)", what):
        return f"{where}: {len(str(raw))} characters; at most {longest[1]} are kept"
    if kinds := re.fullmatch(r"Expected `(.+)`, got `(.+)`", what):
        wanted = kinds[1].split(" | ")
        if "bool" in wanted:
            return f"{where}: expected true or false, got {short(raw)}"
        if "str" in wanted and "object" in wanted:
            return f"{where}: expected text or an object, got {kind_of(raw)}"
        expected = next((kind for kind in ("str", "object", "array", "decimal") if kind in wanted), wanted[0])
        return f"{where}: expected {_WORDS.get(expected, expected)}, got {kind_of(raw)}"
    if what.startswith("Invalid enum value"):  # the one enum of a push: an order's status
        return f"{where}: {short(raw)} is not one of {', '.join(sorted(ORDER_STATUSES))}"
    return f"{where or 'the entry'}: {what[:1].lower()}{what[1:]}"


def _joined(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _at(entry: object, where: str) -> object:
    """The value at `Levels.Available` or `Barcodes[0]` of an entry (None if there is none)."""
    value = entry
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", where):
        if name and isinstance(value, dict):
            value = value.get(name)
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return None
    return value


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value
