"""The store's batch writes (insert_many, update_many) store exactly what SQLAlchemy's own
executemany would: the same text, moments, defaults and NUL replacement, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control.batch_writes import insert_many, update_many
from target_khaos_control.store import credit_notes, documents, exceptions, open_store, return_versions, reveni_returns

MOMENT = datetime(2026, 11, 20, 10, 30, 5, 123456, tzinfo=UTC)


def stored(engine: sa.Engine, table: sa.Table) -> list[tuple[Any, ...]]:
    """The rows as SQLite holds them (no type conversion on the way back)."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY 1")]  # noqa: S608


def both_ways(tmp_path: Path, table: sa.Table, rows: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """`rows` written by insert_many into one store and by SQLAlchemy's own insert into another."""
    ours, theirs = open_store(f"sqlite:///{tmp_path / 'ours.db'}"), open_store(f"sqlite:///{tmp_path / 'sa.db'}")
    with ours.begin() as conn:
        insert_many(conn, table, [dict(row) for row in rows])
    with theirs.begin() as conn:
        for row in rows:
            conn.execute(table.insert(), [row])
    return stored(ours, table), stored(theirs, table)


def test_a_return_with_a_nul_and_defaults_left_out_is_stored_as_sqlalchemy_stores_it(tmp_path: Path) -> None:
    # given a return whose updated_at holds a NUL, with no ruleset_hash or status given
    rows = [
        {
            "return_id": "ret-1",
            "updated_at": "2026-11-20T10:00:00\x00Z",
            "content_hash": "a" * 64,
            "first_seen": MOMENT,
            "last_changed": MOMENT,
            "version_id": 7,
        }
    ]
    ours, theirs = both_ways(tmp_path, reveni_returns, rows)
    # expect the same row: the NUL as U+FFFD, the moment as SQLite keeps it, the defaults filled in
    assert ours == theirs
    assert ours[0][1] == "2026-11-20T10:00:00\ufffdZ"
    assert ours[0][3] == "2026-11-20 10:30:05.123456"
    assert ours[0][5:] == ("", "", 7)


# An exception's columns but its key and those with defaults.
AN_EXCEPTION = {
    "kind": "unknown_sku",
    "owner": "warehouse",
    "return_id": "ret-1",
    "message": "SKU X is not in Khaos",
    "status": "open",
    "first_seen": MOMENT,
    "last_seen": MOMENT,
    "occurrences": 1,
}


def test_a_version_whose_record_holds_a_nul_is_stored_as_sqlalchemy_stores_it(tmp_path: Path) -> None:
    # given a version of a return whose record holds a NUL
    rows = [{"id": 1, "return_id": "ret-1", "seen_at": MOMENT, "record": '{"name":"a\x00b"}'}]
    ours, theirs = both_ways(tmp_path, return_versions, rows)
    # expect the same row: the NUL as U+FFFD
    assert ours == theirs
    assert ours == [(1, "ret-1", "2026-11-20 10:30:05.123456", '{"name":"a\ufffdb"}')]


def test_rows_giving_different_columns_each_land_whole(tmp_path: Path) -> None:
    # given two exceptions, one with its severity and one leaning on the default
    base = AN_EXCEPTION
    rows = [base | {"trace_key": "k1", "severity": "low"}, base | {"trace_key": "k2"}]
    ours, theirs = both_ways(tmp_path, exceptions, rows)
    assert ours == theirs
    assert [(row[0], row[10]) for row in ours] == [("k1", "low"), ("k2", "high")]


def test_rows_whose_columns_change_and_come_back_in_another_order_each_land_whole(tmp_path: Path) -> None:
    # given three exceptions: with a severity, without one, then with one again, its columns in another order
    base = AN_EXCEPTION
    rows = [
        base | {"trace_key": "k1", "severity": "low"},
        base | {"trace_key": "k2"},
        {"severity": "medium", "trace_key": "k3"} | dict(reversed(base.items())),
    ]
    ours, theirs = both_ways(tmp_path, exceptions, rows)
    # expect every row stored, as SQLAlchemy stores it, each with its own severity or the default
    assert ours == theirs
    assert [(row[0], row[10]) for row in ours] == [("k1", "low"), ("k2", "high"), ("k3", "medium")]


def test_money_and_an_empty_moment_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    rows = [
        {
            "code": "CN-1",
            "associated_ref": "ret-1",
            "gross": Decimal("59.99"),
            "currency": "GBP",
            "date": "2026-11-20",
            "seen_at": MOMENT,
            "net": None,
        }
    ]
    ours, theirs = both_ways(tmp_path, credit_notes, rows)
    assert ours == theirs


def test_update_many_changes_only_the_columns_given(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    document = {
        "associated_ref": "ret-1",
        "return_id": "ret-1",
        "sequence": 1,
        "state": "held",
        "item_ids": "[]",
        "hold_reason": "unknown SKU",
        "source_updated_at": "2026-11-20T10:00:00Z",
        "created_at": MOMENT,
        "state_changed_at": MOMENT,
    }
    with engine.begin() as conn:
        insert_many(conn, documents, [document, document | {"associated_ref": "ret-1-2", "sequence": 2}])
        # when the first is published and the second's hold reason changes
        update_many(
            conn,
            documents,
            "associated_ref",
            [
                {"associated_ref": "ret-1", "state": "published", "hold_reason": "", "feed_position": 7},
                {"associated_ref": "ret-1-2", "hold_reason": "a\x00b"},
            ],
        )
        rows = conn.execute(
            sa.select(
                documents.c.associated_ref, documents.c.state, documents.c.hold_reason, documents.c.feed_position
            ).order_by(documents.c.associated_ref)
        ).all()
    # expect each to change as given, and nothing else
    assert [tuple(row) for row in rows] == [("ret-1", "published", "", 7), ("ret-1-2", "held", "a\ufffdb", None)]


def test_a_column_the_table_does_not_have_is_named(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn, pytest.raises(KeyError, match="reveni_returns has no column colour"):
        insert_many(conn, reveni_returns, [{"return_id": "ret-1", "colour": "red"}])


def test_an_exception_seen_again_is_stored_as_sqlalchemys_own_update_stores_it(tmp_path: Path) -> None:
    # given the same two exceptions in two stores, seen twice already
    row = {
        "kind": "field_too_long",
        "owner": "cx",
        "return_id": "ret-1",
        "message": "Line1 is 42 characters",
        "status": "resolved",
        "first_seen": MOMENT,
        "last_seen": MOMENT,
        "occurrences": 2,
        "details": "{}",
    }
    ours, theirs = open_store(f"sqlite:///{tmp_path / 'ours.db'}"), open_store(f"sqlite:///{tmp_path / 'sa.db'}")
    later = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    seen = [
        {"trace_key": "k1", "status": "open", "message": "Line1 is 43\x00", "last_seen": later, "occurrences": 3},
        {"trace_key": "k2", "status": "open", "details": '{"é": "\\u0000"}', "last_seen": later, "occurrences": 1},
    ]
    for engine in (ours, theirs):
        with engine.begin() as conn:
            insert_many(conn, exceptions, [row | {"trace_key": "k1"}, row | {"trace_key": "k2"}])
    # when each is seen again: by update_many adding to occurrences, and by SQLAlchemy's own update
    with ours.begin() as conn:
        update_many(conn, exceptions, "trace_key", [dict(r) for r in seen], added=("occurrences",))
    with theirs.begin() as conn:
        for r in seen:
            given = {k: v for k, v in r.items() if k not in ("trace_key", "occurrences")}
            added = exceptions.c.occurrences + r["occurrences"]
            conn.execute(
                exceptions.update().where(exceptions.c.trace_key == r["trace_key"]).values(occurrences=added, **given)
            )
    # expect the same rows: the occurrences added to (2 + 3, 2 + 1), the rest as given, the NUL as U+FFFD
    assert stored(ours, exceptions) == stored(theirs, exceptions)
    assert [(r[0], r[5], r[6], r[9], r[11]) for r in stored(ours, exceptions)] == [
        ("k1", "Line1 is 43\ufffd", "open", 5, "{}"),
        ("k2", "Line1 is 42 characters", "open", 3, '{"é": "\\u0000"}'),
    ]


def test_a_batch_is_converted_row_by_row_where_its_columns_differ(tmp_path: Path) -> None:
    # given three exceptions leaning on defaults: a NUL only in the last message and item id,
    # a number as one item id, and moments that are one object for two rows and another for the third
    later = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    base = {
        "kind": "unknown_sku",
        "owner": "warehouse",
        "return_id": "ret-1",
        "status": "open",
        "first_seen": MOMENT,
        "occurrences": 1,
    }
    rows = [
        base | {"trace_key": "k1", "message": "SKU X", "item_id": "item-1", "last_seen": MOMENT},
        base | {"trace_key": "k2", "message": "SKU Y", "item_id": 7, "last_seen": MOMENT},
        base | {"trace_key": "k3", "message": "SKU \x00Z", "item_id": "item\x003", "last_seen": later},
    ]
    ours, theirs = both_ways(tmp_path, exceptions, rows)
    # expect every row as SQLAlchemy stores it: k3's NULs alone as U+FFFD, each its own moment
    assert ours == theirs
    assert [(row[0], row[4], row[5], row[8], row[10], row[13]) for row in ours] == [
        ("k1", "item-1", "SKU X", "2026-11-20 10:30:05.123456", "high", ""),
        ("k2", "7", "SKU Y", "2026-11-20 10:30:05.123456", "high", ""),
        ("k3", "item\ufffd3", "SKU \ufffdZ", "2026-11-21 08:00:00.000000", "high", ""),
    ]
