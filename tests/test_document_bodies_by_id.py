"""A document's body is keyed by its document's id, given in order (migration 0022): a new
body is appended, never written into a random page of an index of `RV-<id>` references.
A store from before keeps every body under its document, and a downgrade puts them back."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.store import alembic_config, document_bodies, documents, documents_with_bodies, open_store

from tests.khaos_docs import MOMENT, as_text, feed_row

# As migration 0021 left them: each body keyed by its document's reference.
OLD_DOCUMENTS = sa.table("documents", *(sa.column(c.name, c.type) for c in documents.c if c.name != "id"))
OLD_BODIES = sa.table("document_bodies", *map(sa.column, ("associated_ref", "body", "lines")))
LINES = '{"a1": {"credit": "12.50", "disposition": "restock", "reason": "4"}}'


def _bodies(conn: sa.Connection) -> dict[str, tuple[int, str, str]]:
    query = sa.select(documents.c.associated_ref, documents.c.id, document_bodies.c.body, document_bodies.c.lines)
    return {ref: (id_, body, lines) for ref, id_, body, lines in conn.execute(query.select_from(documents_with_bodies))}


def test_a_store_from_before_keys_each_body_by_its_document_s_id_and_back(store_url: str) -> None:
    # given a store from before (revision 0021): three documents, each with its body
    rows = [feed_row(1), feed_row(2), feed_row(3) | {"body": '{"AssociatedRef":"RV-3","Notes":"é"}'}]
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0021")
        conn.execute(OLD_DOCUMENTS.insert(), [{k: v for k, v in row.items() if k != "body"} for row in rows])
        conn.execute(
            OLD_BODIES.insert(),
            [{"associated_ref": r["associated_ref"], "body": r["body"], "lines": LINES} for r in rows],
        )

    # when the store is opened (brought up to date)
    open_store(store_url).dispose()

    # expect: the documents numbered as they were written, each body and its lines under its document's id
    with engine.connect() as conn:
        assert _bodies(conn) == {
            "RV-1": (1, rows[0]["body"], LINES),
            "RV-2": (2, rows[1]["body"], LINES),
            "RV-3": (3, '{"AssociatedRef":"RV-3","Notes":"é"}', LINES),
        }
    # and Khaos, on first contact, is served each body as it was
    with engine.begin() as conn:
        served = feed.next_batch(conn, "2026-11-20T09:00:00Z", 1000, "JSON", MOMENT)
    assert (served.refs, as_text(served.bodies)) == (["RV-1", "RV-2", "RV-3"], [row["body"] for row in rows])
    # and the next document written takes the next id, its body with it
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(4)])
    with engine.connect() as conn:
        assert _bodies(conn)["RV-4"] == (4, feed_row(4)["body"], "{}")

    # when it is taken back to revision 0021
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0021")

    # expect: each body back under its document's reference, and no id left on either table
    with engine.connect() as conn:
        back = {ref: body for ref, body, _ in conn.execute(sa.select(*OLD_BODIES.c))}
        inspector = sa.inspect(conn)
        columns = {
            table: {c["name"] for c in inspector.get_columns(table)} for table in ("documents", "document_bodies")
        }
        keys = {table: inspector.get_pk_constraint(table)["constrained_columns"] for table in columns}
    assert back == {row["associated_ref"]: row["body"] for row in [*rows, feed_row(4)]}
    assert "id" not in columns["documents"]
    assert columns["document_bodies"] == {"associated_ref", "body", "lines"}
    assert keys == {"documents": ["associated_ref"], "document_bodies": ["associated_ref"]}
    engine.dispose()


def test_on_sqlite_a_new_body_is_appended_under_its_document_s_id_with_no_index_to_write(tmp_path: Path) -> None:
    # given a new store
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")

    # when two documents are written, the second's reference before the first's
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(9), feed_row(1)])

    # expect: each body's row numbered by its document's id (SQLite's row order, so appended)
    with engine.connect() as conn:
        placed = conn.exec_driver_sql(
            "SELECT b.rowid, d.associated_ref FROM document_bodies b JOIN documents d ON d.id = b.document_id"
        ).all()
        indexes = conn.exec_driver_sql("PRAGMA index_list(document_bodies)").all()
    assert sorted(tuple(row) for row in placed) == [(1, "RV-9"), (2, "RV-1")]
    # and no index beside the table's own rows: a body's reference is random, its id is not
    assert indexes == []
    engine.dispose()
