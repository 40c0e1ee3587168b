"""Each document's body lives in its own table (migration 0016): a pull marks its documents
served without rewriting their bodies, and a store from before keeps every body."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from target_khaos_control.channel import feed
from target_khaos_control.store import alembic_config, document_bodies, documents, documents_with_bodies, open_store

from tests.khaos_docs import MOMENT, as_text, feed_row, pulled_with_wal_emptied

NOTES = "x" * 4000  # a body of about 4 KB: larger than a SQLite page


def test_a_pull_marks_its_documents_served_without_rewriting_their_bodies(tmp_path: Path) -> None:
    # given 100 published documents of 4 KB bodies (400 KB in all), the WAL emptied;
    # when Khaos pulls them all
    rows = [feed_row(n, notes=NOTES) for n in range(1, 101)]
    engine, served, written = pulled_with_wal_emptied(tmp_path / "store.db", rows)
    # expect: all 100 served, each with its body as stored
    assert len(served.refs) == 100
    assert [json.loads(body)["Notes"] for body in served.bodies] == [NOTES] * 100
    # and the pull wrote their small rows, not their bodies again: under 100 KB of WAL
    # (with the body on the row it rewrote every body: over 400 KB)
    assert written < 100_000, f"a pull wrote {written:,} bytes"
    with engine.connect() as conn:
        states = set(conn.execute(sa.select(documents.c.state)).scalars())
    assert states == {"served"}
    engine.dispose()


def test_a_store_from_before_moves_every_body_to_its_own_table_and_back(tmp_path: Path) -> None:
    # given a store from before (revision 0017): two documents, their bodies on their rows
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = sa.create_engine(url)
    bodies = {"RV-1": '{"AssociatedRef":"RV-1","Notes":"é"}', "RV-2": '{"AssociatedRef":"RV-2"}'}
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0017")
        with_body = sa.table("documents", *(sa.column(c.name, c.type) for c in documents.c), sa.column("body"))
        conn.execute(
            with_body.insert(),
            [feed_row(1, notes=NOTES) | {"body": bodies["RV-1"]}, feed_row(2, notes=NOTES) | {"body": bodies["RV-2"]}],
        )

    # when the store is opened (brought up to date)
    open_store(url)

    # expect: each body in `document_bodies` under its document, none left on `documents`
    with engine.connect() as conn:
        moved = {
            ref: body
            for ref, body in conn.execute(
                sa.select(documents.c.associated_ref, document_bodies.c.body).select_from(documents_with_bodies)
            )
        }
        columns = {column["name"] for column in sa.inspect(conn).get_columns("documents")}
    assert moved == bodies
    assert "body" not in columns
    # and Khaos is served each body as it was
    with engine.begin() as conn:
        served = feed.next_batch(conn, "2026-11-20T09:00:00Z", 1000, "JSON", MOMENT)
    assert (served.refs, as_text(served.bodies)) == (["RV-1", "RV-2"], [bodies["RV-1"], bodies["RV-2"]])

    # when it is taken back to revision 0017
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0017")

    # expect: each body back on its document's row, and no `document_bodies`
    with engine.connect() as conn:
        back = {ref: body for ref, body in conn.execute(sa.text("select associated_ref, body from documents"))}
        tables = set(sa.inspect(conn).get_table_names())
    assert back == bodies
    assert "document_bodies" not in tables
    engine.dispose()
