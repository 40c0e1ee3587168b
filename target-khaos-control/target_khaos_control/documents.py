"""What one Reveni return should become in Khaos Control: a `CustomerReturn` document
(shared/spec/khaos-control-cloud.md), or problems for a person to fix.

The rules engine fills a `Draft`; the store then decides which document (new, updated,
or a follow-up) carries its lines. Stock never moves before grading: `ProcessReturn` is
true only when the rules say so and every line in the document was accepted by the
warehouse.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from target_khaos_control.exception_kinds import KINDS

# Khaos Control Cloud's field lengths for an Address.
LINE_LENGTH, TOWN_LENGTH, POSTCODE_LENGTH = 35, 35, 10


@dataclass(frozen=True)
class Problem:
    """Something a person must fix; a blocking one keeps its item (or return) from Khaos."""

    kind: str  # unknown_reason, missing_tax_code, sku_not_found, invalid_record, ...
    owner: str  # finance, warehouse, cx or integration
    message: str
    item_id: str = ""
    severity: str = "high"
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def blocking(self) -> bool:
        """Whether it keeps its item (or return) from Khaos: a property of its kind."""
        return KINDS[self.kind].holds


@dataclass(frozen=True)
class Line:
    """One Reveni item as Khaos will see it: one returned item, or two when its paid price
    is split a penny apart; the exchange items it was swapped for; and what Khaos will
    credit for all of it (negative when the exchange costs more than the return)."""

    item_id: str  # the Reveni item this line credits: never credited twice
    returned: list[dict[str, Any]]  # CustomerReturnItems
    exchanges: list[dict[str, Any]]  # CustomerExchangeItems, for an exchanged item
    accepted: bool
    credit: Decimal  # Σ returned UnitPrice × Quantity − Σ exchanged, as Khaos will post it
    disposition: str = ""


@dataclass
class Draft:
    return_id: str
    ruleset_hash: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    source_order: dict[str, str] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # item id -> line | exception:<kind> | skip:<why>
    process: bool = False
    currency: str = ""  # the return's currency: every amount here is in it
    refunded: Decimal = Decimal("0.00")  # Reveni's completed refunds, less top-ups the customer paid
    withdraw: bool = False  # Reveni cancelled it: take back what Khaos has not pulled
    hold_reason: str = ""  # the rules hold this return back for now

    @property
    def blocking_reason(self) -> str:
        """Why the whole return waits: a return-level problem, or the rules holding it."""
        whole = [p.message for p in self.problems if p.blocking and not p.item_id]
        return "; ".join(whole) or self.hold_reason

    @property
    def credit(self) -> Decimal:
        """What Khaos will credit for every line of the return, in all its documents."""
        return sum((line.credit for line in self.lines), Decimal("0.00"))

    def document(self, associated_ref: str, lines: list[Line]) -> dict[str, Any]:
        exchanges = [item for line in lines for item in line.exchanges]
        returned = [item for line in lines for item in line.returned]
        body = {"AssociatedRef": associated_ref, **self.header, "ReturnedItems": returned}
        if exchanges:
            body["ExchangeItems"] = exchanges
        body["ProcessReturn"] = self.process and all(line.accepted for line in lines)
        return body


def associated_ref(return_id: str, sequence: int = 1) -> str:
    """Deterministic: the same Reveni return always gets the same reference; what is
    sent after the first document was pulled gets `-2`, `-3`, ..."""
    return f"RV-{return_id}" if sequence == 1 else f"RV-{return_id}-{sequence}"


def address(fields: dict[str, Any], email: str) -> dict[str, Any]:
    """Khaos allows 35 characters a line: long lines wrap onto Line2 and Line3."""
    lines = [
        text
        for part in (fields.get("line1"), fields.get("line2"))
        if part
        for text in textwrap.wrap(str(part), LINE_LENGTH)
    ]
    lines = [*lines[:2], " ".join(lines[2:])[:LINE_LENGTH]] if len(lines) > 3 else lines
    return clean(
        {
            "Line1": lines[0] if lines else "",
            "Line2": lines[1] if len(lines) > 1 else None,
            "Line3": lines[2] if len(lines) > 2 else None,
            "Town": str(fields.get("city") or "")[:TOWN_LENGTH],
            "Postcode": str(fields.get("postcode") or "")[:POSTCODE_LENGTH],
            "Country": {"Code": str(fields.get("country_code") or "")},
            "Email": email or None,
        }
    )


def clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Khaos treats null as an error: leave a field out rather than send null."""
    return {key: value for key, value in fields.items() if value is not None}


def khaos_datetime(value: str) -> str:
    """RFC 3339 without offset, as Khaos wants: `2018-01-18T12:20:48` (UTC)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
