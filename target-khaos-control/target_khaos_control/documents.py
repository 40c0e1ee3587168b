"""From a Reveni return to a Khaos Control `CustomerReturn` (shared/spec/khaos-control-cloud.md).

`draft_customer_return` is the one seam where client decisions enter: today from the
plain mapping file, later from the rules engine. It never raises on bad data: what it
cannot map becomes a `Problem` for a person to fix, and the return is held.

Which items a document credits: those the warehouse accepted, and, when Reveni has
already refunded the customer, those still pending (the credit note then waits in Khaos
for approval). Rejected items are never credited. So stock never moves before grading:
`ProcessReturn` is true only when every item in the document was accepted.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from target_khaos_control.mapping import Mapping

# Khaos Control Cloud's field lengths for an Address.
LINE_LENGTH, TOWN_LENGTH, POSTCODE_LENGTH = 35, 35, 10


@dataclass(frozen=True)
class Problem:
    """Something a person must fix before this return can reach Khaos."""

    kind: str  # unknown_reason, missing_tax_code, customer_not_found, invalid_record, ...
    owner: str  # finance, warehouse, cx or integration
    message: str
    item_id: str = ""


@dataclass(frozen=True)
class Line:
    item_id: str  # the Reveni item this line credits: never credited twice
    returned: dict[str, Any]  # a CustomerReturnItem
    exchange: dict[str, Any] | None  # a CustomerExchangeItem, for an exchanged item
    accepted: bool


@dataclass
class Draft:
    """What one Reveni return should become in Khaos, before the store decides which
    document (new, updated, or a follow-up) carries it."""

    return_id: str
    header: dict[str, Any] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    process_when_accepted: bool = False
    cancelled: bool = False

    def document(self, associated_ref: str, lines: list[Line]) -> dict[str, Any]:
        exchanges = [line.exchange for line in lines if line.exchange is not None]
        body = {"AssociatedRef": associated_ref, **self.header, "ReturnedItems": [line.returned for line in lines]}
        if exchanges:
            body["ExchangeItems"] = exchanges
        body["ProcessReturn"] = self.process_when_accepted and all(line.accepted for line in lines)
        return body


def associated_ref(return_id: str, sequence: int = 1) -> str:
    """Deterministic: the same Reveni return always gets the same reference; what is
    sent after the first document was pulled gets `-2`, `-3`, ..."""
    return f"RV-{return_id}" if sequence == 1 else f"RV-{return_id}-{sequence}"


def draft_customer_return(record: dict[str, Any], mapping: Mapping) -> Draft:
    draft = Draft(return_id=str(record.get("id", "")), process_when_accepted=mapping.process_when_accepted)
    try:
        _fill(draft, record, mapping)
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as error:
        draft.lines = []
        draft.problems.append(
            Problem("invalid_record", "integration", f"Reveni return {draft.return_id or '?'} is malformed: {error!r}")
        )
    return draft


def _fill(draft: Draft, record: dict[str, Any], mapping: Mapping) -> None:
    draft.cancelled = record["status"] == "cancelled"
    customer = record["customer"]
    email = str(customer.get("email") or "")
    urn = mapping.customers.get(email.lower(), mapping.default_urn)
    if not urn:
        draft.problems.append(
            Problem(
                "customer_not_found",
                "cx",
                f"No Khaos customer (URN) is mapped for the customer of order "
                f"{record['order']['number']}; add their account to the mapping file",
            )
        )
    draft.header = {
        "CreatedDate": _khaos_datetime(record["created_at"]),
        "URN": urn,
        "InvoiceAddress": _address(customer.get("address") or {}, email),
        "InvoiceContact": _clean(
            {"Forename": customer.get("first_name"), "Surname": customer.get("last_name"), "Email": email}
        ),
        "Notes": f"Reveni return {draft.return_id} for order {record['order']['number']}, "
        f"refund by {record.get('refund_method') or 'n/a'}",
    }
    address = draft.header["InvoiceAddress"]
    if not (address["Line1"] and address["Town"] and address["Country"]["Code"]):
        draft.problems.append(
            Problem(
                "invalid_record",
                "cx",
                f"The customer address on order {record['order']['number']} lacks "
                "a first line, a town or a country, which Khaos requires",
            )
        )
    refunded = any(refund.get("status") == "completed" for refund in record.get("refunds") or [])
    source_order = {mapping.source_order_key: str(record["order"]["external_id"])}
    for item in record["return_items"]:
        line = _line(draft, item, mapping, source_order, refunded)
        if line is not None:
            draft.lines.append(line)


def _line(
    draft: Draft, item: dict[str, Any], mapping: Mapping, source_order: dict[str, str], refunded: bool
) -> Line | None:
    item_id = str(item["id"])
    verdict = item.get("status")
    if verdict == "rejected" or (verdict != "accepted" and not refunded):
        return None  # nothing to credit (rejected), or not yet (awaiting the warehouse)
    reason_code = item["return_reason"]["code"]
    reason = mapping.reasons.get(reason_code)
    if reason is None:
        draft.problems.append(
            Problem(
                "unknown_reason",
                "cx",
                f"Return reason {reason_code!r} has no Khaos return reason in the mapping file",
                item_id,
            )
        )
    if mapping.tax_code(item.get("tax_rate")) is None:
        rate = item.get("tax_rate")
        text = "Reveni sent no tax rate" if rate is None else f"tax rate {rate}% has no Khaos tax code"
        draft.problems.append(Problem("missing_tax_code", "finance", f"{item['sku']}: {text}", item_id))
    sku = mapping.sku_aliases.get(item["sku"], item["sku"])
    chain = [{"Mapping": kind} for kind in mapping.sku_mapping]
    quantity = int(item["quantity"])
    returned = {
        "SKU": sku,
        "Mapping": chain,
        "Quantity": quantity,
        "ReturnReason": {"ID": reason or ""},
        "SourceReference": {"SourceOrder": source_order},
        "UnitPrice": {"Gross": Decimal(item["price"])},
    }
    exchange = None
    if item.get("exchange"):
        swap = item["exchange"]
        exchange = {
            "SKU": mapping.sku_aliases.get(swap["sku"], swap["sku"]),
            "Mapping": chain,
            "Quantity": int(swap.get("quantity") or quantity),
        }
    return Line(item_id, returned, exchange, accepted=verdict == "accepted")


def _address(address: dict[str, Any], email: str) -> dict[str, Any]:
    """Khaos allows 35 characters a line: long lines wrap onto Line2 and Line3."""
    lines = [
        text
        for part in (address.get("line1"), address.get("line2"))
        if part
        for text in textwrap.wrap(str(part), LINE_LENGTH)
    ]
    lines = [*lines[:2], " ".join(lines[2:])[:LINE_LENGTH]] if len(lines) > 3 else lines
    return _clean(
        {
            "Line1": lines[0] if lines else "",
            "Line2": lines[1] if len(lines) > 1 else None,
            "Line3": lines[2] if len(lines) > 2 else None,
            "Town": str(address.get("city") or "")[:TOWN_LENGTH],
            "Postcode": str(address.get("postcode") or "")[:POSTCODE_LENGTH],
            "Country": {"Code": str(address.get("country_code") or "")},
            "Email": email or None,
        }
    )


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Khaos treats null as an error: leave a field out rather than send null."""
    return {key: value for key, value in fields.items() if value is not None}


def _khaos_datetime(value: str) -> str:
    """RFC 3339 without offset, as Khaos wants: `2018-01-18T12:20:48` (UTC)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
