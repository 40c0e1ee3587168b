"""A Reveni return, typed once: the tap's schema, the target's check and the template context.

The Structs below are the one definition of a Reveni return (shared/spec/reveni-api.md).
`make schemas` (scripts/reveni_schema.py) writes tap-reveni's JSON schema from them, the
rules' template context (`rules/template_context.py`) is walked from them, and msgspec
checks each record against them in a few microseconds: every record is checked, none is
trusted (tests/test_reveni_contract.py holds the check to jsonschema's verdict on the
tap's schema, break by break). What the schema leaves open (a name with a lone surrogate,
which no file or database can hold) is checked here too, so one odd record becomes an
`invalid_record` for that return and never stops the load.
"""

from __future__ import annotations

import calendar
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta, Struct

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

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postcode: str | None = None
    country_code: str | None = None


class Customer(Struct):
    """Who returns the goods."""

    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    address: Address | None = None


class Reason(Struct):
    """Why the customer returns an item."""

    code: str | None = None
    label: str | None = None


class Exchange(Struct):
    """The item the customer takes instead."""

    sku: str | None = None
    ean: str | None = None
    quantity: int | None = None
    price: Annotated[Money | None, Meta(description="[model] unit price of the new item, including tax")] = None


class ReturnItem(Struct):
    """One returned line."""

    id: str
    sku: str | None = None
    ean: str | None = None
    name: str | None = None
    quantity: int | None = None
    price: Annotated[Money | None, Meta(description="Unit price including tax")] = None
    tax_rate: Annotated[Money | None, Meta(description="Percentage; missing when Reveni has none")] = None
    tax: Annotated[Money | None, Meta(description="Tax included in the line total")] = None
    total: Money | None = None
    return_reason: Reason | None = None
    exchange: Annotated[Exchange | None, Meta(description="The item the customer takes instead; null for a refund")] = (
        None
    )
    status: Annotated[Verdict | None, Meta(description="Warehouse verdict")] = None
    reject_reason: str | None = None
    reject_reason_text: str | None = None


class Refund(Struct):
    """Money Reveni paid back."""

    id: str | None = None
    method: str | None = None
    amount: Money | None = None
    currency: str | None = None
    status: str | None = None
    refunded_at: Timestamp | None = None


class ExchangePayment(Struct):
    """[model] What the customer paid on top for a dearer exchange item."""

    id: str | None = None
    amount: Money | None = None
    currency: str | None = None
    status: str | None = None
    paid_at: Timestamp | None = None


class Order(Struct):
    """The order the goods came from."""

    external_id: str | None = None
    number: str | None = None


class Shipping(Struct):
    """How the goods come back."""

    carrier: str | None = None
    tracking_number: str | None = None


class Return(Struct, kw_only=True):  # kw_only: fields in the spec's order, `updated_at` last
    """A Reveni return, as tap-reveni sends it."""

    id: str
    order: Order | None = None
    customer: Customer | None = None
    type: Annotated[ReturnType | None, Meta(description="refund, exchange or mixed")] = None
    instant: Annotated[bool | None, Meta(description="Refunded before the goods are back")] = None
    status: ReturnStatus | None = None
    refund_method: str | None = None
    currency: str | None = None
    total: Money | None = None
    return_items: list[ReturnItem] | None = None
    refunds: list[Refund] | None = None
    exchange_payments: list[ExchangePayment] | None = None
    shipping: Shipping | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp


_WHERE = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.DOTALL)
_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def breaks(record: dict[str, Any]) -> str | None:
    """The first place `record` breaks the schema, as `field is value: why`; None if none does."""
    try:
        parsed = msgspec.convert(record, Return)
    except msgspec.ValidationError as error:
        return _said(record, str(error))
    except UnicodeEncodeError:  # a lone surrogate where a pattern or a listed value is checked
        return _unwritable(record)
    return _bad_day(parsed) or _unwritable(record)


def _said(record: dict[str, Any], error: str) -> str:
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
    stamps = [("updated_at", parsed.updated_at), ("created_at", parsed.created_at)]
    stamps += [(f"refunds[{n}].refunded_at", r.refunded_at) for n, r in enumerate(parsed.refunds or [])]
    stamps += [(f"exchange_payments[{n}].paid_at", p.paid_at) for n, p in enumerate(parsed.exchange_payments or [])]
    for field, stamp in stamps:
        match = TIMESTAMP.match(stamp) if stamp is not None else None
        if match is None:
            continue
        year, month, day = (int(part) for part in match.groups())
        if year == 0 or not 1 <= day <= calendar.monthrange(year, month)[1]:
            return f"{field} is {stamp!r}: not a date (no such day)"
    return None


def _unwritable(record: dict[str, Any]) -> str | None:
    """A string no store or file can hold (a lone surrogate): found by trying to write the
    record once, and only then looked for field by field."""
    try:
        msgspec.json.encode(record)
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
