"""What each of a document's lines credits (`lines`) lives on its body's row, and on Postgres
`documents` leaves room on each page (migration 0019): a pull marks its documents served
without rewriting their lines or touching an index, and a store from before keeps every
document's lines, and what Khaos holds reads the same."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.khaos_position import HeldLine, read_positions
from target_khaos_control.served_marks import settle
from target_khaos_control.store import alembic_config, document_bodies, documents, documents_with_bodies, open_store

from tests.khaos_docs import MOMENT, feed_row, pulled_with_wal_emptied
from tests.servers import PostgresServer

# What a document of 40 items keeps of its lines: about 4 KB, larger than a SQLite page.
ITEMS = [f"item-{n:02d}-{'x' * 40}" for n in range(40)]
LINES = json.dumps({item: {"credit": "1.00", "disposition": "restock", "reason": "1"} for item in ITEMS})


def test_a_pull_marks_its_documents_served_without_rewriting_their_lines(tmp_path: Path) -> None:
    # given 100 published documents, each with 4 KB of lines (400 KB in all), the WAL emptied;
    # when Khaos pulls them all
    rows = [feed_row(n) | {"lines": LINES} for n in range(1, 101)]
    engine, served, written = pulled_with_wal_emptied(tmp_path / "store.db", rows)
    assert len(served.refs) == 100
    # expect the pull wrote their small rows, not their lines again: under 100 KB of WAL
    # (with the lines on the document's row it rewrote them all: over 400 KB)
    assert written < 100_000, f"a pull wrote {written:,} bytes"
    engine.dispose()


def test_on_postgres_a_pull_marks_every_document_served_without_touching_an_index(
    postgres: PostgresServer,
) -> None:
    # given 2,000 published documents, their references and hashes as long as the target's
    engine = open_store(postgres.new_database())
    with engine.begin() as conn:
        insert_documents(
            conn,
            [
                feed_row(n)
                | {
                    "associated_ref": f"RV-{uuid.UUID(int=n)}-1",
                    "return_id": str(uuid.UUID(int=n)),
                    "ruleset_hash": f"{n:064x}",
                }
                for n in range(1, 2001)
            ],
        )
    # when Khaos pulls the first 1,000 and their served marks are written
    with engine.begin() as conn:
        served = feed.next_batch(conn, "2026-11-20T09:00:00Z", 1000, "JSON", MOMENT)
        assert settle(conn) == 1
        updated, heap_only = conn.execute(
            sa.text("select n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables where relname = 'documents'")
        ).one()
    # expect each marked served by a heap-only update: its new version on its own page, no index written
    # (with the table filled to 60%, about a third did not fit)
    assert len(served.refs) == 1000
    assert (updated, heap_only) == (1000, 1000)
    engine.dispose()


def test_a_store_from_before_moves_every_documents_lines_to_its_body_and_back(tmp_path: Path) -> None:
    # given a store from before (revision 0018): two served documents, their lines on their rows
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = sa.create_engine(url)
    lines = {
        "RV-1": '{"a1":{"credit":"12.50","disposition":"restock","reason":"4"},"a2":{"credit":"0.99"}}',
        "RV-2": "{}",  # from before lines were kept
    }
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0018")
        with_lines = sa.table("documents", *(sa.column(c.name, c.type) for c in documents.c), sa.column("lines"))
        rows = [feed_row(n, "served") | {"lines": lines[f"RV-{n}"]} for n in (1, 2)]
        conn.execute(with_lines.insert(), [{k: v for k, v in row.items() if k != "body"} for row in rows])
        conn.execute(sa.table("document_bodies", *map(sa.column, ("associated_ref", "body"))).insert(), rows)

    # when the store is opened (brought up to date)
    open_store(url)

    # expect: each document's lines on its body's row, none left on `documents`
    with engine.connect() as conn:
        moved = {
            ref: kept
            for ref, kept in conn.execute(
                sa.select(documents.c.associated_ref, document_bodies.c.lines).select_from(documents_with_bodies)
            )
        }
        columns = {column["name"] for column in sa.inspect(conn).get_columns("documents")}
    assert moved == lines
    assert "lines" not in columns
    # and what Khaos holds reads as it did: RV-1's two lines as kept, RV-2 none kept
    with engine.connect() as conn:
        held = {ref: doc.lines for ref in ("1", "2") for doc in read_positions(conn, [ref])[ref].documents}
    assert held == {
        "1": {
            "a1": HeldLine("a1", Decimal("12.50"), "restock", "4"),
            "a2": HeldLine("a2", Decimal("0.99"), "", ""),
        },
        "2": {},
    }

    # when it is taken back to revision 0018
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0018")

    # expect: each document's lines back on its row, and none on `document_bodies`
    with engine.connect() as conn:
        back = {ref: kept for ref, kept in conn.execute(sa.text("select associated_ref, lines from documents"))}
        body_columns = {column["name"] for column in sa.inspect(conn).get_columns("document_bodies")}
    assert back == lines
    assert body_columns == {"associated_ref", "body"}
    engine.dispose()
