"""Money at stake: what the open exceptions hold back, per currency, for the dashboard's
grading, the alerts and the metrics (one definition for all three).

An item-level exception holds its line (price x quantity); a refund-against-credit one
holds the difference; a refund or a credit note alone (a reconciliation gap) holds itself. An item with several exceptions is counted once (its largest
figure), so two problems on one line never double its money. A figure that cannot be
read (an `invalid_record`'s price, say) or has no currency is left out: it is the
exception itself, not money to add up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation, Overflow, localcontext
from typing import Any


def amount(details: Mapping[str, Any]) -> Decimal | None:
    """What one exception puts at risk, in its currency: the difference between a refund
    and a credit, else a refund or credit alone, else an item's price times its quantity
    (one unit when none is given); None when it names no money, or none that is a number."""
    with localcontext() as context:  # a figure past any context (1e999999999 x 2) is none, not a crash
        context.traps[Overflow] = context.traps[InvalidOperation] = False
        if "difference" in details:
            difference = _number(details["difference"])
            return _held(difference) if difference is not None else None
        refunded, credited = _number(details.get("refunded")), _number(details.get("credited"))
        if refunded is not None or credited is not None:
            return _held((refunded or Decimal(0)) - (credited or Decimal(0)))
        price, quantity = _number(details.get("price")), _number(details.get("quantity"))
        if price is not None:
            return _held(price * (quantity if quantity is not None else 1))
        return None


def figure(details: Mapping[str, Any]) -> tuple[str, Decimal] | None:
    """The currency and amount one exception's details hold back, or None."""
    currency = details.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        return None
    held = amount(details)
    return None if held is None else (currency, held)


def _held(value: Decimal) -> Decimal | None:
    """`value` without its sign; None where it overflowed."""
    return value.copy_abs() if value.is_finite() else None


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def by_currency(rows: Iterable[Any]) -> dict[str, Decimal]:
    """Exceptions rows (`return_id`, `item_id`, `details`) summed per currency, each item once."""
    largest: dict[tuple[str, str, str], Decimal] = {}
    for row in rows:
        details = json.loads(row.details or "{}")
        found = figure(details) if isinstance(details, dict) else None
        if found is None:
            continue
        currency, held = found
        key = (row.return_id, row.item_id, currency)
        largest[key] = max(held, largest.get(key, held))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for (_, _, currency), held in largest.items():
        totals[currency] += held
    return dict(sorted(totals.items()))
