"""Exceptions as records a person can act on, and as a Singer stream any tool can read.

Each record names its owner and carries what the owner needs: the Reveni return and
item, the order number and Khaos sales order reference, the original SKU and line
(quantity, price, reason), a message in the owner's words and a suggested fix. It never
carries bank details or a full email address. Records are keyed by `trace_key` (type +
return + item), so a consumer upserts: a repeat is the same key with more occurrences.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import exceptions

SUGGESTED_FIX = {
    "invalid_record": "Check the record in Reveni; if it is complete, raise it with the integration team.",
    "unknown_reason": "Decide the Khaos return reason and disposition for this Reveni reason, add a rule, then replay.",
    "unmapped_disposition": "Add a reason rule for this verdict (or drop the narrowing), then replay.",
    "missing_tax_code": "Fix the product's tax rate in Reveni, or map the rate to a Khaos tax code in the rules.",
    "value_mismatch": "Compare the refund in Reveni with the credit note in Khaos; adjust the credit before "
    "approving it.",
    "sku_not_found": "Find the current stock code and add an alias to the rules, then replay.",
    "sku_discontinued": "Name a replacement stock code in the rules, or credit the line by hand in Khaos.",
    "sku_renamed_needs_review": "Confirm the new stock code and add it as an alias in the rules, then replay.",
    "customer_not_found": "Create or find the customer's account in Khaos and add the URN to the rules' table.",
    "source_order_not_found": "Find the original sales order in Khaos and check the order reference template.",
    "quantity_exceeds_order": "Check the sales order: more units are being returned than were sold.",
    "khaos_import_failed": "Open the failed download in Khaos: fix what it names, then retry the import there.",
    "not_collected_by_khaos": "Check the channel in Khaos is enabled and its config URL and password are right.",
    "held_too_long": "Look at why the return is held (its rules or its status) and release or resolve it.",
}

SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in {
            "trace_key": "string",
            "type": "string",
            "owner": "string",
            "severity": "string",
            "status": "string",
            "return_id": "string",
            "item_id": "string",
            "order_number": "string",
            "sales_order_ref": "string",
            "sku": "string",
            "quantity": ["integer", "null"],
            "unit_price": "string",
            "reason": "string",
            "message": "string",
            "suggested_fix": "string",
            "first_seen": "string",
            "last_seen": "string",
            "occurrences": "integer",
            "ruleset_hash": "string",
        }.items()
    },
}


def as_record(row: Any) -> dict[str, Any]:
    """One `exceptions` row as the record its owner sees."""
    details = json.loads(row.details or "{}")
    source_order = details.get("source_order") or {}
    return {
        "trace_key": row.trace_key,
        "type": row.kind,
        "owner": row.owner,
        "severity": row.severity,
        "status": row.status,
        "return_id": row.return_id,
        "item_id": row.item_id,
        "order_number": str(details.get("order_number") or ""),
        "sales_order_ref": ", ".join(f"{k} {v}" for k, v in source_order.items()),
        "sku": str(details.get("sku") or ""),
        "quantity": details.get("quantity"),
        "unit_price": str(details.get("price") or ""),
        "reason": str(details.get("reason") or ""),
        "message": row.message,
        "suggested_fix": SUGGESTED_FIX.get(row.kind, ""),
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
        "occurrences": row.occurrences,
        "ruleset_hash": row.ruleset_hash,
    }


def touched_since(conn: Connection, moment: datetime) -> list[dict[str, Any]]:
    """Exceptions a batch opened, saw again, or resolved."""
    rows = conn.execute(sa.select(exceptions).where(exceptions.c.last_seen >= moment))
    return [as_record(row) for row in rows]


class ExceptionStream:
    """Singer SCHEMA then RECORD messages, stream `exceptions`, to a JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            self._emit({"type": "SCHEMA", "stream": "exceptions", "schema": SCHEMA, "key_properties": ["trace_key"]})
        for record in records:
            self._emit({"type": "RECORD", "stream": "exceptions", "record": record})
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _emit(self, message: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
