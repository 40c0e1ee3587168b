"""A return's documents found by its id without an index of every document's return id
(documents_of, migration 0021): its first by its reference, its follow-ups by their own
index, on SQLite and Postgres; and the schema before and after the migration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from target_khaos_control.documents_of import DocumentsOf, of_returns
from target_khaos_control.store import alembic_config, document_bodies, documents, documents_with_bodies, open_store

MOMENT = datetime(2026, 11, 20, 10, 30, 5, tzinfo=UTC)
# Return `x` has a first document and a follow-up, `RV-x-2`: the reference a first document of
# a return with the id `x-2` would have. Return `y` has one; `x-2` and `z` none.
STORED = (("RV-x", "x", 1), ("RV-x-2", "x", 2), ("RV-y", "y", 1))
READ = DocumentsOf(
    sa.select(documents.c.associated_ref, documents.c.return_id, documents.c.sequence, document_bodies.c.body)
    .select_from(documents_with_bodies)
    .where(documents.c.state == sa.bindparam("state", "served", literal_execute=True))
)


def _filled(url: str) -> sa.Engine:
    engine = open_store(url)
    with engine.begin() as conn:
        for ref, return_id, sequence in STORED:
            document_id = conn.execute(
                documents.insert()
                .values(
                    associated_ref=ref,
                    return_id=return_id,
                    sequence=sequence,
                    state="served",
                    item_ids="[]",
                    source_updated_at="",
                    created_at=MOMENT,
                    state_changed_at=MOMENT,
                )
                .returning(documents.c.id)
            ).scalar_one()
            conn.execute(document_bodies.insert().values(document_id=document_id, body=f"body of {ref}"))
    return engine


@pytest.fixture
def engine(store_url: str) -> sa.Engine:
    return _filled(store_url)


def test_a_return_s_first_document_and_its_follow_up_are_found_in_their_order(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        rows = READ.rows(conn, ["x", "y", "z"])
    assert [tuple(row) for row in rows] == [
        ("RV-x", "x", 1, "body of RV-x"),
        ("RV-y", "y", 1, "body of RV-y"),
        ("RV-x-2", "x", 2, "body of RV-x-2"),
    ]


def test_a_follow_up_s_reference_is_never_taken_for_another_return_s_first_document(engine: sa.Engine) -> None:
    # given the id `x-2`, whose first document would be `RV-x-2`: that one is `x`'s second
    with engine.connect() as conn:
        read = READ.rows(conn, ["x-2"])
        selected = conn.execute(sa.select(documents.c.associated_ref).where(of_returns(["x-2"]))).all()
    assert read == []
    assert selected == []


def test_the_condition_finds_what_the_batch_read_finds(engine: sa.Engine) -> None:
    query = (
        sa.select(documents.c.associated_ref).where(of_returns(["x", "y", "z"])).order_by(documents.c.associated_ref)
    )
    with engine.connect() as conn:
        assert conn.execute(query).scalars().all() == ["RV-x", "RV-x-2", "RV-y"]


def test_on_sqlite_each_read_goes_through_an_index_never_the_whole_table(tmp_path: Path) -> None:
    engine = _filled(f"sqlite:///{tmp_path / 'store.db'}")
    queries = [read.query.where(read.column.in_(["x", "y"])) for read in (READ.first, READ.follow_ups)]
    queries.append(sa.select(documents.c.associated_ref).where(of_returns(["x", "y"])))
    with engine.connect() as conn:
        plans = [
            conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {_literal(query, engine.dialect)}").all() for query in queries
        ]
    steps = [str(row[-1]) for plan in plans for row in plan]
    assert not [step for step in steps if step.startswith("SCAN documents")], steps
    assert any("ix_documents_follow_ups" in step for step in steps), steps
    assert any("sqlite_autoindex_documents_1" in step for step in steps), steps


def test_the_migration_keeps_an_index_of_follow_ups_only_and_its_downgrade_puts_the_full_one_back(
    tmp_path: Path,
) -> None:
    engine = _filled(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        after = {index["name"] for index in sa.inspect(conn).get_indexes("documents")}
        created = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_documents_follow_ups'").scalar()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0020")
    with engine.connect() as conn:
        before = {index["name"] for index in sa.inspect(conn).get_indexes("documents")}
        kept = conn.execute(sa.select(sa.func.count()).select_from(documents)).scalar_one()
    assert created == "CREATE INDEX ix_documents_follow_ups ON documents (return_id) WHERE sequence > 1"
    assert "ix_documents_return_id" not in after
    assert "ix_documents_return_id" in before
    assert "ix_documents_follow_ups" not in before
    assert kept == 3


def _literal(query: sa.Select[Any], dialect: sa.Dialect) -> str:
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
