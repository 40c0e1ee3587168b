"""Khaos's stock catalogue, the write side: what a StockUpload push keeps of each item.

The rules, the reconciliation and the close read the catalogue through `rules/catalogue.py`
(the read side); only this module writes `stock_items` and `stock_codes`, and a transaction
that writes them also calls `changed`, so a target run reads the catalogue again exactly
when a push has changed it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import catalogue_version, stock_codes, stock_items


class StockRow(TypedDict):
    """One pushed stock item, checked, as `stock_items` keeps it."""

    stock_id: str
    stock_code: str
    other_ref: str | None
    barcodes: str  # JSON: the item's barcodes as Khaos sent them
    tax_rate: str  # JSON: the item's TaxRate DataItem
    discontinued: bool
    deleted: bool
    payload: str  # JSON: the whole entry as pushed
    updated_at: datetime


def keep_item(conn: Connection, row: StockRow, moment: datetime) -> None:
    """The item's row, and its stock code among every code it has had (StockID is stable, StockCode is not)."""
    stock_id, code = row["stock_id"], row["stock_code"]
    values = {name: value for name, value in row.items() if name != "stock_id"}
    if conn.execute(stock_items.update().where(stock_items.c.stock_id == stock_id).values(**values)).rowcount == 0:
        conn.execute(stock_items.insert().values(**row))
    known = conn.execute(
        sa.select(stock_codes.c.stock_code).where(stock_codes.c.stock_id == stock_id, stock_codes.c.stock_code == code)
    ).first()
    if known is None:
        conn.execute(stock_codes.insert().values(stock_id=stock_id, stock_code=code, first_seen=moment))


def delete_item(conn: Connection, stock_id: str, moment: datetime) -> None:
    """An item Khaos deleted: kept, marked deleted, so the rules no longer offer it."""
    conn.execute(stock_items.update().where(stock_items.c.stock_id == stock_id).values(deleted=True, updated_at=moment))


def changed(conn: Connection) -> None:
    """Called in each transaction that writes `stock_items` or `stock_codes` (once is enough)."""
    conn.execute(catalogue_version.update().values(version=catalogue_version.c.version + 1))
