"""Money at stake: what the open exceptions hold back, per currency, for alerts and metrics.

An item-level exception holds its line (price x quantity); a refund-against-credit one
holds the difference. An item with several exceptions is counted once (its largest
figure), so two problems on one line never double its money. A figure that cannot be
read (an `invalid_record`'s price, say) or has no currency is left out: it is the
exception itself, not money to add up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any


def figure(details: dict[str, Any]) -> tuple[str, Decimal] | None:
    """The currency and amount one exception's details hold back, or None."""
    currency = details.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        return None
    try:
        if details.get("difference") is not None:
            amount = abs(Decimal(str(details["difference"])))
        elif details.get("price") is not None and isinstance(details.get("quantity"), int):
            amount = Decimal(str(details["price"])) * details["quantity"]
        else:
            return None
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return currency, amount


def by_currency(rows: Iterable[Any]) -> dict[str, Decimal]:
    """Exceptions rows (`return_id`, `item_id`, `details`) summed per currency, each item once."""
    largest: dict[tuple[str, str, str], Decimal] = {}
    for row in rows:
        found = figure(json.loads(row.details or "{}"))
        if found is None:
            continue
        currency, amount = found
        key = (row.return_id, row.item_id, currency)
        largest[key] = max(amount, largest.get(key, amount))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for (_, _, currency), amount in largest.items():
        totals[currency] += amount
    return dict(sorted(totals.items()))
