"""What Khaos Control pushes to the channel, checked and kept.

Stock items (StockUpload) teach us every stock code an item has had, since `StockID` is
stable while `StockCode` can change; stock levels (StockStatusUpload) show when returned
stock became available; order statuses (OrderStatusUpload) are kept as sent. A repeat
push overwrites with the same values, so it is harmless.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import order_statuses, stock_codes, stock_items, stock_levels

ORDER_STATUSES = {"Received", "Shipping", "PartialShip", "Complete", "Cancelled"}


class PushError(ValueError):
    """A push we cannot accept; the message says which entry and field."""


def save_stock_upload(conn: Connection, data: dict[str, Any], moment: datetime) -> int:
    items = _entries(data, "Items")
    for n, item in enumerate(items):
        stock_id, code = _text(item, "StockID", f"Items[{n}]"), _text(item, "StockCode", f"Items[{n}]")
        options = item.get("Options") or {}
        row = {
            "stock_code": code,
            "other_ref": str(item.get("OtherRef") or ""),
            "barcodes": json.dumps(item.get("Barcodes") or []),
            "tax_rate": json.dumps(item.get("TaxRate") or {}),
            "discontinued": _flag(options.get("Discontinued")),
            "deleted": False,
            "payload": json.dumps(item, default=str),
            "updated_at": moment,
        }
        _upsert(conn, stock_items, {"stock_id": stock_id}, row)
        known = conn.execute(
            sa.select(stock_codes.c.stock_code).where(
                stock_codes.c.stock_id == stock_id, stock_codes.c.stock_code == code
            )
        ).first()
        if known is None:
            conn.execute(stock_codes.insert().values(stock_id=stock_id, stock_code=code, first_seen=moment))
    for n, deleted in enumerate(data.get("Deleted") or []):
        gone = deleted.get("StockID") if isinstance(deleted, dict) else deleted
        if not gone:
            raise PushError(f"Deleted[{n}]: expected a StockID")
        conn.execute(
            stock_items.update().where(stock_items.c.stock_id == str(gone)).values(deleted=True, updated_at=moment)
        )
    return len(items)


def save_stock_statuses(conn: Connection, data: dict[str, Any], moment: datetime) -> int:
    statuses = _entries(data, "Statuses")
    for n, status in enumerate(statuses):
        where = f"Statuses[{n}]"
        levels = status.get("Levels")
        if not isinstance(levels, dict):
            raise PushError(f"{where}.Levels: required")
        key = {"stock_id": _text(status, "StockID", where), "site_id": _text(status, "SiteID", where)}
        _upsert(
            conn,
            stock_levels,
            key,
            {
                "stock_code": str(status.get("StockCode") or ""),
                "available": _number(levels.get("Available", 0), f"{where}.Levels.Available"),
                "on_order": _number(levels.get("OnOrder", 0), f"{where}.Levels.OnOrder"),
                "updated_at": moment,
            },
        )
    return len(statuses)


def save_order_statuses(conn: Connection, data: dict[str, Any], moment: datetime) -> int:
    statuses = _entries(data, "Statuses")
    for n, status in enumerate(statuses):
        where = f"Statuses[{n}]"
        state = _text(status, "Status", where)
        if state not in ORDER_STATUSES:
            raise PushError(f"{where}.Status: {state!r} is not one of {sorted(ORDER_STATUSES)}")
        _upsert(
            conn,
            order_statuses,
            {"order_id": _text(status, "OrderID", where)},
            {
                "order_code": str(status.get("OrderCode") or ""),
                "associated_ref": str(status.get("AssociatedRef") or ""),
                "status": state,
                "payload": json.dumps(status, default=str),
                "updated_at": moment,
            },
        )
    return len(statuses)


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Portable across SQLite and Postgres: update, and insert if there was nothing to update."""
    condition = sa.and_(*(table.c[name] == value for name, value in key.items()))
    if conn.execute(table.update().where(condition).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(**key, **values))


def _entries(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    entries = data.get(name)
    if not isinstance(entries, list):
        raise PushError(f"{name}: expected a list")
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PushError(f"{name}[{n}]: expected an object")
    return entries


def _text(entry: dict[str, Any], field: str, where: str) -> str:
    value = entry.get(field)
    if value is None or str(value).strip() == "":
        raise PushError(f"{where}.{field}: required")
    return str(value).strip()


def _number(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PushError(f"{where}: {value!r} is not a number") from None


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
