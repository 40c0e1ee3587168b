"""Draining a feed of 1,000,000 documents, on SQLite and on Postgres, with the plans.

The store is built directly (bulk inserts, COPY on Postgres): published documents with
bodies of a realistic size. Then Khaos's pulls are played as the channel makes them
(`feed.next_batch`, 1,000 documents a pull, each pull its own transaction under the feed's
lock) from a first-contact datetime to the end of the feed. Prints the drain's time, the
pull p50 and p95, each as a ratio to its goal (drain under 20 s, pull p95 under 30 ms),
and the query plans of what a pull runs.

    .venv/bin/python bench/channel_drain.py [--documents 1000000] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from target_khaos_control.channel import feed
from target_khaos_control.store import documents, open_store

from tests.servers import PG_BIN, PostgresServer

PULL = 1000
DRAIN_GOAL, P95_GOAL = 20.0, 0.030  # seconds
MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
COLUMNS = [column.name for column in documents.columns]


def body(n: int) -> str:
    """A CustomerReturn of about the size the rules write (two lines)."""
    line = {
        "SKU": f"SKU-{n % 977:05d}",
        "Mapping": [{"Mapping": "StockCode"}, {"Mapping": "Barcode"}],
        "Quantity": 1,
        "ReturnReason": {"ID": "1"},
        "SourceReference": {"SourceOrder": {"AssociatedRef": f"SO-{n}"}},
        "UnitPrice": "24.99",
    }
    return json.dumps(
        {
            "AssociatedRef": f"RV-ret{n:08d}",
            "CreatedDate": "2026-11-20T10:00:00",
            "URN": f"CUST{n % 9999:04d}",
            "InvoiceAddress": {"Line1": "1 High Street", "Town": "Leeds", "Country": {"Code": "GB"}},
            "InvoiceContact": {"Forename": "Ana", "Surname": "Smith", "Email": f"cust{n}@example.com"},
            "SalesSource": {"Name": "REVENI"},
            "Notes": f"Reveni return ret{n:08d} for order {n}, refund by original",
            "ReturnedItems": [line, line],
            "ProcessReturn": True,
        },
        separators=(",", ":"),
    )


def rows(count: int) -> Iterator[dict[str, object]]:
    for n in range(1, count + 1):
        yield {
            "associated_ref": f"RV-ret{n:08d}",
            "return_id": f"ret{n:08d}",
            "sequence": 1,
            "state": "published",
            "body": body(n),
            "item_ids": json.dumps([f"item{n}a", f"item{n}b"]),
            "hold_reason": "",
            "source_updated_at": "2026-11-20T10:00:00Z",
            "feed_position": n,
            "created_at": MOMENT,
            "state_changed_at": MOMENT,
            "published_at": MOMENT,
            "first_served_at": None,
            "last_served_at": None,
            "ruleset_hash": "",
            "currency": "GBP",
        }


def build(engine: Engine, count: int) -> float:
    began = time.perf_counter()
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor, cursor.copy(f"COPY documents ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows(count):
                    copy.write_row([row[name] for name in COLUMNS])
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE documents")
    else:
        chunk: list[dict[str, object]] = []
        with engine.begin() as conn:
            for row in rows(count):
                chunk.append(row)
                if len(chunk) == 10_000:
                    conn.execute(documents.insert(), chunk)
                    chunk = []
            if chunk:
                conn.execute(documents.insert(), chunk)
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


def drain(engine: Engine) -> tuple[float, list[float], int]:
    continuation, times, served = "2019-12-31T12:00:00", [], 0
    began = time.perf_counter()
    while True:
        started = time.perf_counter()
        with engine.begin() as conn:
            batch = feed.next_batch(conn, continuation, PULL, "JSON", datetime.now(UTC))
        times.append(time.perf_counter() - started)
        served += len(batch.refs)
        if not batch.refs:
            break
        continuation = batch.continuation
    return time.perf_counter() - began, sorted(times), served


def plans(engine: Engine) -> None:
    queries = {
        "a pull's page": "SELECT associated_ref, body, feed_position FROM documents WHERE state IN "
        "('published', 'served', 're_requested') AND feed_position > 500000 ORDER BY feed_position LIMIT 1000",
        "marking it served": "UPDATE documents SET state = 'served' WHERE feed_position BETWEEN 500001 AND 501000 "
        "AND state IN ('published', 'served', 're_requested')",
        "first contact (the first never served, past the served stretch)": "SELECT min(feed_position) "
        "FROM documents WHERE feed_position > 500000 AND state = 'published'",
    }
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        for what, query in queries.items():
            print(f"    plan, {what}:")
            for row in conn.exec_driver_sql(explain + query):
                print(f"      {row[-1]}")
        conn.rollback()


def measure(name: str, url: str, count: int) -> None:
    engine = open_store(url)
    built = build(engine, count)
    seconds, times, served = drain(engine)
    p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95) - 1]
    print(f"  {name}: {count:,} documents built in {built:.0f} s; drained {served:,} in {len(times)} pulls")
    print(
        f"    drain {seconds:6.2f} s   ratio to the {DRAIN_GOAL:.0f} s goal: {seconds / DRAIN_GOAL:.2f} (<= 1 meets it)"
    )
    print(
        f"    pull p50 {p50 * 1000:5.1f} ms, p95 {p95 * 1000:5.1f} ms   "
        f"ratio to the {P95_GOAL * 1000:.0f} ms goal: {p95 / P95_GOAL:.2f} (<= 1 meets it)"
    )
    plans(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    print(f"channel: a full drain of {args.documents:,} documents, {PULL:,} a pull")
    work = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    measure("SQLite", f"sqlite:///{work / 'store.db'}", args.documents)
    (work / "store.db").unlink()
    if args.sqlite_only or not (PG_BIN / "initdb").exists():
        print("  Postgres: skipped (no server binaries, or --sqlite-only)")
        return
    server = PostgresServer().start()
    try:
        measure("Postgres", server.url, args.documents)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
