"""Khaos's stock catalogue, the write side: what a StockUpload push keeps of each item,
read from its `StockItem` definition (`khaos_documents`).

The rules, the reconciliation and the close read the catalogue through `rules/catalogue.py`
(the read side); only this module writes `stock_items` and `stock_codes`, and a transaction
that writes them also calls `changed`, so a target run reads the catalogue again exactly
when a push has changed it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.khaos_documents import StockItem, encode
from target_khaos_control.store import catalogue_version, stock_codes, stock_items


def keep_item(conn: Connection, item: StockItem, payload: str, moment: datetime) -> None:
    """The item's row (`payload`: its entry as pushed), and its stock code among every code
    it has had (StockID is stable, StockCode is not)."""
    values = {
        "stock_code": item.StockCode,
        "other_ref": item.OtherRef,
        "barcodes": msgspec.json.encode(item.Barcodes).decode(),
        "tax_rate": encode(item.TaxRate or {}),
        "discontinued": item.Options is not None and item.Options.Discontinued,
        "deleted": False,
        "payload": payload,
        "updated_at": moment,
    }
    if conn.execute(stock_items.update().where(stock_items.c.stock_id == item.StockID).values(**values)).rowcount == 0:
        conn.execute(stock_items.insert().values(stock_id=item.StockID, **values))
    code = item.StockCode
    known = conn.execute(
        sa.select(stock_codes.c.stock_code).where(
            stock_codes.c.stock_id == item.StockID, stock_codes.c.stock_code == code
        )
    ).first()
    if known is None:
        conn.execute(stock_codes.insert().values(stock_id=item.StockID, stock_code=code, first_seen=moment))


def delete_item(conn: Connection, stock_id: str, moment: datetime) -> None:
    """An item Khaos deleted: kept, marked deleted, so the rules no longer offer it."""
    conn.execute(stock_items.update().where(stock_items.c.stock_id == stock_id).values(deleted=True, updated_at=moment))


def changed(conn: Connection) -> None:
    """Called in each transaction that writes `stock_items` or `stock_codes` (once is enough)."""
    conn.execute(catalogue_version.update().values(version=catalogue_version.c.version + 1))
