"""A Reveni return, typed once: the tap's schema, the target's check and the template context.

The Structs below are the one definition of a Reveni return (shared/spec/reveni-api.md).
`make schemas` (scripts/reveni_schema.py) writes tap-reveni's JSON schema from them, the
rules' template context (`rules/template_context.py`) is walked from them, and msgspec
checks each record against them in a few microseconds: every record is checked, none is
trusted (tests/test_reveni_contract.py holds the check to jsonschema's verdict on the
tap's schema, break by break), and the rules read the typed return `read` makes of it,
once per draft. What the schema leaves open (a name with a lone surrogate,
which no file or database can hold) is checked here too, so one odd record becomes an
`invalid_record` for that return and never stops the load.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, get_args

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

T = TypeVar("T")
# A field Reveni may leave out (UNSET) or send as null (None): the rules tell the two apart
# as they always have (a template naming a field left out fails; a null one reads None).
Maybe: TypeAlias = T | UnsetType | None

# A record as Reveni sent it (decoded JSON), before `read` checks it: untyped at the boundary,
# so code that reads it before `read` has to narrow each value it uses.
Sent: TypeAlias = Mapping[str, object]

Money = Annotated[str, Meta(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
# RFC 3339, as jsonschema's `date-time` format reads it (rfc3339-validator): upper-
# or lower-case T and Z, hours to 23, seconds to 59; the day is checked against its month below.
RFC3339 = (
    r"^([0-9]{4})-(0[1-9]|1[0-2])-([0-9]{2})[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
# The tap's schema says `format: date-time`; the pattern is how the target reads that format.
Timestamp = Annotated[str, Meta(pattern=RFC3339, extra_json_schema={"format": "date-time"})]
TIMESTAMP = re.compile(RFC3339, re.ASCII)
ReturnType = Literal["refund", "exchange", "mixed"]
ReturnStatus = Literal[
    "in_progress", "shipped", "received", "for_review", "accepted", "partly_accepted", "rejected", "cancelled"
]
Verdict = Literal["pending", "accepted", "rejected"]
# The values Reveni's API lists ([public], shared/spec/reveni-api.md), written once above.
TYPES: tuple[str, ...] = get_args(ReturnType)
STATUSES: tuple[str, ...] = get_args(ReturnStatus)
VERDICTS: tuple[str, ...] = get_args(Verdict)


class Address(Struct):
    """Where the customer lives."""

    line1: Maybe[str] = UNSET
    line2: Maybe[str] = UNSET
    city: Maybe[str] = UNSET
    postcode: Maybe[str] = UNSET
    country_code: Maybe[str] = UNSET


class Customer(Struct):
    """Who returns the goods."""

    id: Maybe[str] = UNSET
    email: Maybe[str] = UNSET
    first_name: Maybe[str] = UNSET
    last_name: Maybe[str] = UNSET
    address: Maybe[Address] = UNSET


class Reason(Struct):
    """Why the customer returns an item."""

    code: Maybe[str] = UNSET
    label: Maybe[str] = UNSET


class Exchange(Struct):
    """The item the customer takes instead."""

    sku: Maybe[str] = UNSET
    ean: Maybe[str] = UNSET
    quantity: Maybe[int] = UNSET
    price: Annotated[Maybe[Money], Meta(description="[model] unit price of the new item, including tax")] = UNSET


class ReturnItem(Struct):
    """One returned line."""

    id: str
    sku: Maybe[str] = UNSET
    ean: Maybe[str] = UNSET
    name: Maybe[str] = UNSET
    quantity: Maybe[int] = UNSET
    price: Annotated[Maybe[Money], Meta(description="Unit price including tax")] = UNSET
    tax_rate: Annotated[Maybe[Money], Meta(description="Percentage; missing when Reveni has none")] = UNSET
    tax: Annotated[Maybe[Money], Meta(description="Tax included in the line total")] = UNSET
    total: Maybe[Money] = UNSET
    return_reason: Maybe[Reason] = UNSET
    exchange: Annotated[Maybe[Exchange], Meta(description="The item the customer takes instead; null for a refund")] = (
        UNSET
    )
    status: Annotated[Maybe[Verdict], Meta(description="Warehouse verdict")] = UNSET
    reject_reason: Maybe[str] = UNSET
    reject_reason_text: Maybe[str] = UNSET


class Refund(Struct):
    """Money Reveni paid back."""

    id: Maybe[str] = UNSET
    method: Maybe[str] = UNSET
    amount: Maybe[Money] = UNSET
    currency: Maybe[str] = UNSET
    status: Maybe[str] = UNSET
    refunded_at: Maybe[Timestamp] = UNSET


class ExchangePayment(Struct):
    """[model] What the customer paid on top for a dearer exchange item."""

    id: Maybe[str] = UNSET
    amount: Maybe[Money] = UNSET
    currency: Maybe[str] = UNSET
    status: Maybe[str] = UNSET
    paid_at: Maybe[Timestamp] = UNSET


class Order(Struct):
    """The order the goods came from."""

    external_id: Maybe[str] = UNSET
    number: Maybe[str] = UNSET


class Shipping(Struct):
    """How the goods come back."""

    carrier: Maybe[str] = UNSET
    tracking_number: Maybe[str] = UNSET


class Return(Struct, kw_only=True):  # kw_only: fields in the spec's order, `updated_at` last
    """A Reveni return, as tap-reveni sends it."""

    id: str
    order: Maybe[Order] = UNSET
    customer: Maybe[Customer] = UNSET
    type: Annotated[Maybe[ReturnType], Meta(description="refund, exchange or mixed")] = UNSET
    instant: Annotated[Maybe[bool], Meta(description="Refunded before the goods are back")] = UNSET
    status: Maybe[ReturnStatus] = UNSET
    refund_method: Maybe[str] = UNSET
    currency: Maybe[str] = UNSET
    total: Maybe[Money] = UNSET
    return_items: Maybe[list[ReturnItem]] = UNSET
    refunds: Maybe[list[Refund]] = UNSET
    exchange_payments: Maybe[list[ExchangePayment]] = UNSET
    shipping: Maybe[Shipping] = UNSET
    created_at: Maybe[Timestamp] = UNSET
    updated_at: Timestamp


_WHERE = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.DOTALL)
_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


# `sent` and `required` run a dozen times a return: UNSET, UnsetType's one instance, is told
# by identity in a third of isinstance's time.


def sent(value: T | UnsetType | None) -> T | None:
    """A field's value, None when Reveni left it out or sent null (a record's `.get`)."""
    return None if value is UNSET else value


def required(value: T | UnsetType | None, field: str) -> T:
    """A field the rules cannot do without: left out or null, the return cannot be read."""
    if value is None or value is UNSET:
        raise KeyError(field)
    return value


def as_sent(part: Struct) -> dict[str, object]:
    """A typed part of a return as Reveni sent it: the fields it left out are not there."""
    return {name: value for name, value in msgspec.structs.asdict(part).items() if value is not UNSET}


def read(record: Sent, *, written: bool = False) -> Return | str:
    """`record` as a typed Reveni return, or the first place it breaks the schema, as `field is value: why`.

    `written`: the caller has already written `record` as JSON with msgspec (the target's
    stored copy, `canonical.written`), which a lone surrogate anywhere in it would have stopped,
    so it is not written again to look for one."""
    try:
        # From the dict it already is: decoding the record's JSON into a Return again is slower
        # (16.7 us a return against 12.9, round 6), so the line is not decoded straight into one.
        parsed = msgspec.convert(record, Return)
    except msgspec.ValidationError as error:
        return _said(record, str(error))
    except UnicodeEncodeError:  # a lone surrogate where a pattern or a listed value is checked
        return _unwritable(record) or "a field holds text that is not UTF-8"
    return _bad_day(parsed) or (None if written else _unwritable(record)) or parsed


def breaks(record: Sent) -> str | None:
    """The first place `record` breaks the schema, as `field is value: why`; None if none does."""
    found = read(record)
    return found if isinstance(found, str) else None


def _said(record: Sent, error: str) -> str:
    match = _WHERE.match(error)
    why, where = (match.group(1), match.group(2) or "") if match else (error, "")
    missing = re.match(r"Object missing required field `(.+)`", why)
    if missing:
        field = f"{where}.{missing.group(1)}".lstrip(".")
        return f"{field} is None: missing, and Reveni always sends it"
    field = where.lstrip(".") or "the record"
    return f"{field} is {shown(_at(record, where))}: {_plain(why)}"


_NAMES = {
    "str": "text",
    "int": "a whole number",
    "bool": "true or false",
    "null": "null",
    "object": "an object",
    "array": "a list",
    "decimal": "a number with a point",
    "float": "a number with a point",
}


def _plain(why: str) -> str:
    """msgspec's reason in the words of the contract."""
    expected = re.match(r"Expected `([^`]+)`, got `([^`]+)`", why)
    if expected:
        wanted = " or ".join(_NAMES.get(name, name) for name in expected.group(1).split(" | "))
        return f"expected {wanted}, not {_NAMES.get(expected.group(2), expected.group(2))}"
    if why.startswith("Expected `str` matching regex") and "[Tt]" in why:
        return "not an RFC 3339 timestamp (like 2026-11-20T10:00:00Z)"
    if why.startswith("Expected `str` matching regex"):
        return 'not an amount written as text (like "24.00")'
    if why.startswith("Invalid enum value"):
        return "not one of the values Reveni's API lists for it"
    return why.replace("`", "")


def _at(record: Any, where: str) -> Any:
    value = record
    for name, index in _PART.findall(where):
        try:
            value = value[name] if name else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def shown(value: Any) -> str:
    """`value` as a message shows it: short, and a number of 5,000 digits not printed whole."""
    if isinstance(value, int) and value.bit_length() > 100:
        return f"a whole number of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, Decimal) and len(value.as_tuple().digits) > 30:
        return f"a number of {len(value.as_tuple().digits)} digits"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _bad_day(parsed: Return) -> str | None:
    """A timestamp of the right shape on a day its month does not have (2026-02-30)."""
    for stamp in _stamps(parsed):  # most returns: no field named, no name made
        # A stamp of the schema's shape on day 01-28 of a year but 0: every month has it, no regex needed.
        if not (type(stamp) is str and stamp[:4] != "0000" and "01" <= stamp[8:10] <= "28") and not _real_day(stamp):
            break
    else:
        return None
    stamps = [("updated_at", parsed.updated_at), ("created_at", parsed.created_at)]
    stamps += [(f"refunds[{n}].refunded_at", r.refunded_at) for n, r in enumerate(parsed.refunds or [])]
    stamps += [(f"exchange_payments[{n}].paid_at", p.paid_at) for n, p in enumerate(parsed.exchange_payments or [])]
    for field, stamp in stamps:
        match = TIMESTAMP.match(stamp) if isinstance(stamp, str) else None
        if match is None:
            continue
        year, month, day = (int(part) for part in match.groups())
        if year == 0 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            return f"{field} is {stamp!r}: not a date (no such day)"
    return None


def _stamps(parsed: Return) -> list[Any]:
    stamps: list[Any] = [parsed.updated_at, parsed.created_at]
    if parsed.refunds:
        stamps += [refund.refunded_at for refund in parsed.refunds]
    if parsed.exchange_payments:
        stamps += [payment.paid_at for payment in parsed.exchange_payments]
    return stamps


def _real_day(stamp: Any) -> bool:
    """Whether a timestamp names a day its month has (one of another shape is judged elsewhere)."""
    match = TIMESTAMP.match(stamp) if isinstance(stamp, str) else None
    if match is None:
        return True
    year, day = match.group(1), match.group(3)
    if year != "0000" and "01" <= day <= "28":  # every month of every year has 28 days: most stamps stop here
        return True
    return year != "0000" and 1 <= int(day) <= calendar.monthrange(int(year), int(match.group(2)))[1]


_WRITER = msgspec.json.Encoder()  # as msgspec.json.encode
_SCRATCH = bytearray()  # what _unwritable writes, never read: a record's bytes are canonical.py's
KEPT_BYTES = 65_536  # room _SCRATCH keeps: a return is ~1.4 KB


def _unwritable(record: Sent) -> str | None:
    """A string no store or file can hold (a lone surrogate): found by trying to write the
    record once, and only then looked for field by field."""
    try:
        _WRITER.encode_into(record, _SCRATCH)  # into a kept buffer: only whether it can be written matters
        if len(_SCRATCH) > KEPT_BYTES:  # a rare long record's room is given back, not kept for the run
            _SCRATCH.clear()
    except UnicodeEncodeError:
        field = _surrogate(record, "")
        return f"{field or 'a field'} holds a lone surrogate (half of a UTF-16 pair), which is not text"
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError):
        return None  # numbers msgspec will not write (a huge integer): the contract checks judge them
    return None


def _surrogate(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "a field"
        return None
    if isinstance(value, dict):
        for key, inner in value.items():
            name = str(key).encode("utf-8", "backslashreplace").decode()
            found = _surrogate(key, f"{where}.{name}".lstrip(".")) or _surrogate(inner, f"{where}.{name}".lstrip("."))
            if found:
                return found
    if isinstance(value, list):
        for n, inner in enumerate(value):
            found = _surrogate(inner, f"{where}[{n}]")
            if found:
                return found
    return None
