"""The fields of a Reveni return a rule template may read (shared/spec/reveni-api.md)."""

from __future__ import annotations

from typing import Any

# The fields of a Reveni return (shared/spec/reveni-api.md) a template may read; None
# marks a leaf. `item` is the return line, in reason rules only.
ADDRESS = {"line1": None, "line2": None, "city": None, "postcode": None, "country_code": None}
ITEM = {
    "id": None,
    "sku": None,
    "ean": None,
    "name": None,
    "quantity": None,
    "price": None,
    "tax_rate": None,
    "tax": None,
    "total": None,
    "return_reason": {"code": None, "label": None},
    "exchange": {"sku": None, "ean": None, "quantity": None},
    "status": None,
    "reject_reason": None,
    "reject_reason_text": None,
}
RETURN: dict[str, Any] = {
    "id": None,
    "order": {"external_id": None, "number": None},
    "customer": {"id": None, "email": None, "first_name": None, "last_name": None, "address": ADDRESS},
    "type": None,
    "instant": None,
    "status": None,
    "refund_method": None,
    "currency": None,
    "total": None,
    "return_items": None,
    "refunds": None,
    "shipping": {"carrier": None, "tracking_number": None},
    "created_at": None,
    "updated_at": None,
    # Worked out by the engine, for conditions:
    "refunded": None,
    "refunded_amount": None,
    "every_line_accepted": None,
    "credited_amount": None,
}
WITH_ITEM: dict[str, Any] = {**RETURN, "item": ITEM}
