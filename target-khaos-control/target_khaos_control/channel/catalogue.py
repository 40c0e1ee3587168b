"""Khaos's stock catalogue, the write side: what a StockUpload push keeps of each item,
read from its `StockItem` definition (`khaos_documents`).

The rules, the reconciliation and the close read the catalogue through `rules/catalogue.py`
(the read side); only this module writes `stock_items` and `stock_codes`, and a transaction
that writes them also calls `changed`, so a target run reads the catalogue again exactly
when a push has changed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.batch_writes import insert_missing, upsert_many
from target_khaos_control.khaos_documents import StockItem, encode
from target_khaos_control.store import catalogue_version, stock_codes, stock_items


def keep_items(conn: Connection, kept: Sequence[tuple[StockItem, str]], moment: datetime) -> None:
    """Each item's row (with its entry as pushed), and its stock code among every code it has
    had (StockID is stable, StockCode is not): a push's chunk of items in two statements."""
    items = [
        {
            "stock_id": item.StockID,
            "stock_code": item.StockCode,
            "other_ref": item.OtherRef,
            "barcodes": msgspec.json.encode(item.Barcodes).decode(),
            "tax_rate": encode(item.TaxRate or {}),
            "discontinued": item.Options is not None and item.Options.Discontinued,
            "deleted": False,
            "payload": payload,
            "updated_at": moment,
        }
        for item, payload in kept
    ]
    upsert_many(conn, stock_items, ("stock_id",), items)
    codes = [{"stock_id": item.StockID, "stock_code": item.StockCode, "first_seen": moment} for item, _ in kept]
    insert_missing(conn, stock_codes, ("stock_id", "stock_code"), codes)


_DELETED = (
    stock_items.update()
    .where(stock_items.c.stock_id == sa.bindparam("deleted_id"))
    .values(deleted=True, updated_at=sa.bindparam("moment"))
)


def delete_items(conn: Connection, stock_ids: Sequence[str], moment: datetime) -> None:
    """Items Khaos deleted: kept, marked deleted, so the rules no longer offer them."""
    if stock_ids:
        conn.execute(_DELETED, [{"deleted_id": stock_id, "moment": moment} for stock_id in stock_ids])


def changed(conn: Connection) -> None:
    """Called in each transaction that writes `stock_items` or `stock_codes` (once is enough)."""
    conn.execute(catalogue_version.update().values(version=catalogue_version.c.version + 1))
