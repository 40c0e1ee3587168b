"""Khaos's pushes are kept a chunk at a time, each chunk in a few statements (issue 22).

On SQLite a pull waits for the chunk being written (one writer at a time). Written an item
at a time (four statements each, every one built by SQLAlchemy again), a chunk of 200 stock
items took about 150 ms, and pulls during a 20 MB push waited that long
(bench/channel_under_push.py). Now a chunk's items go in one statement per table, and what
is kept is what one after another would have kept: an item pushed twice keeps its last
entry, and every code an item has had is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from target_khaos_control.channel.pushes import CHUNK, save_order_statuses, save_stock_statuses, save_stock_upload
from target_khaos_control.store import open_store, order_statuses, stock_codes, stock_items, stock_levels

MOMENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ITEMS = 2 * CHUNK + 50  # three chunks


def item(n: int, code: str = "") -> dict[str, Any]:
    return {
        "StockID": str(n),
        "StockCode": code or f"SKU-{n:05d}",
        "Barcodes": [{"Barcode": f"50560{n:08d}", "Type": {"Name": "EAN13"}}],
        "TaxRate": {"ID": "1"},
        "Options": {"Discontinued": n % 7 == 0},
    }


def transactions(engine: sa.Engine, push: Any) -> list[list[str]]:
    """The statements of each transaction a push ran."""
    found: list[list[str]] = []

    def begun(_conn: Any) -> None:
        found.append([])

    def noted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        found[-1].append(statement.split()[0].upper())

    sa.event.listen(engine, "begin", begun)
    sa.event.listen(engine, "before_cursor_execute", noted)
    try:
        push()
    finally:
        sa.event.remove(engine, "begin", begun)
        sa.event.remove(engine, "before_cursor_execute", noted)
    return found


def test_a_stock_push_is_written_a_few_statements_a_chunk_and_keeps_what_one_by_one_would(store_url: str) -> None:
    # given a store (SQLite, Postgres) that knows item 3 by an older code
    engine = open_store(store_url)
    save_stock_upload(engine, {"Items": [item(3, "OLD-3")], "Deleted": []}, MOMENT)

    # when Khaos pushes 450 items, item 5 twice (a second entry that renames it), and deletes item 9
    pushed = [item(n) for n in range(ITEMS)] + [item(5, "RENAMED-5")]
    ran = transactions(engine, lambda: save_stock_upload(engine, {"Items": pushed, "Deleted": ["9"]}, MOMENT))

    # expect each chunk's transaction to be a few statements, not four an item
    chunks = [statements for statements in ran if "INSERT" in statements or "UPDATE" in statements]
    assert len(chunks) >= 3
    assert max(len(statements) for statements in chunks) <= 5, chunks
    # and what is kept to be what writing the entries one by one kept
    with engine.connect() as conn:
        rows = {row.stock_id: row for row in conn.execute(sa.select(stock_items))}
        codes = set(conn.execute(sa.select(stock_codes.c.stock_id, stock_codes.c.stock_code)).tuples())
    assert len(rows) == ITEMS
    assert rows["5"].stock_code == "RENAMED-5"  # its last entry
    assert rows["3"].stock_code == "SKU-00003"
    assert rows["9"].deleted
    assert not rows["8"].deleted
    assert rows["14"].discontinued
    assert not rows["15"].discontinued
    assert {("3", "OLD-3"), ("3", "SKU-00003"), ("5", "SKU-00005"), ("5", "RENAMED-5")} <= codes
    assert len(codes) == ITEMS + 2


def test_status_pushes_are_written_a_few_statements_a_chunk_the_last_entry_of_a_key_kept(store_url: str) -> None:
    engine = open_store(store_url)
    levels = [
        {"StockID": str(n), "StockCode": f"SKU-{n:05d}", "SiteID": 1, "Levels": {"Available": n, "OnOrder": 0}}
        for n in range(ITEMS)
    ]
    levels.append({"StockID": "7", "StockCode": "SKU-00007", "SiteID": 1, "Levels": {"Available": 70, "OnOrder": 2}})
    orders = [{"OrderID": f"o{n}", "AssociatedRef": f"RV-r{n}", "Status": "Complete"} for n in range(ITEMS)]

    ran = transactions(engine, lambda: save_stock_statuses(engine, {"Statuses": levels}, MOMENT))
    ran += transactions(engine, lambda: save_order_statuses(engine, {"Statuses": orders}, MOMENT))
    save_order_statuses(
        engine, {"Statuses": [{"OrderID": "o4", "AssociatedRef": "RV-r4", "Status": "Cancelled"}]}, MOMENT
    )

    chunks = [statements for statements in ran if "INSERT" in statements]
    assert len(chunks) >= 6
    assert max(len(statements) for statements in chunks) <= 3, chunks
    with engine.connect() as conn:
        level = conn.execute(sa.select(stock_levels).where(stock_levels.c.stock_id == "7")).one()
        statuses = dict(conn.execute(sa.select(order_statuses.c.order_id, order_statuses.c.status)).tuples().all())
        kept = conn.execute(sa.select(sa.func.count()).select_from(stock_levels)).scalar_one()
    assert (level.available, level.on_order) == (70, 2)
    assert kept == ITEMS
    assert len(statuses) == ITEMS
    assert statuses["o4"] == "Cancelled"
    assert statuses["o5"] == "Complete"
