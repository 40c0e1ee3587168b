"""The target's batch reads (batch_reads.ReadIn) find exactly the rows SQLAlchemy's own
`IN (...)` finds, on SQLite and Postgres: ids past one statement's 500, a short last
chunk padded with its last id, a NUL in an id, and literal constants in the query."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control.batch_reads import ReadIn
from target_khaos_control.store import credit_notes, documents, open_store, reveni_returns

from tests.stored_returns import insert_returns

MOMENT = datetime(2026, 11, 20, 10, 30, 5, tzinfo=UTC)
VERSIONS = ReadIn(
    sa.select(reveni_returns.c.return_id, reveni_returns.c.content_hash, reveni_returns.c.status),
    reveni_returns.c.return_id,
)
HELD = ReadIn(
    sa.select(documents.c.associated_ref, documents.c.state).where(
        documents.c.state.in_(sa.bindparam("states", ["served"], expanding=True, literal_execute=True))
    ),
    documents.c.return_id,
)


def _returns(count: int) -> list[dict[str, Any]]:
    return [
        {
            "return_id": f"ret-{n:04d}",
            "updated_at": "2026-11-20T10:00:00Z",
            "content_hash": f"{n:064d}",
            "record": "{}",
            "status": "accepted" if n % 2 else "pending",
            "first_seen": MOMENT,
            "last_changed": MOMENT,
        }
        for n in range(count)
    ]


def _filled(url: str) -> sa.Engine:
    """A store with 1,200 returns, one of them keyed with a NUL (stored as U+FFFD), and two documents."""
    engine = open_store(url)
    rows = [*_returns(1200), {**_returns(1)[0], "return_id": "ret-\x00nul", "content_hash": "f" * 64}]
    with engine.begin() as conn:
        insert_returns(conn, rows)
        for ref, return_id, state in (("RV-ret-0001", "ret-0001", "served"), ("RV-ret-0002", "ret-0002", "held")):
            conn.execute(
                documents.insert().values(
                    associated_ref=ref,
                    return_id=return_id,
                    sequence=1,
                    state=state,
                    item_ids="[]",
                    source_updated_at="",
                    created_at=MOMENT,
                    state_changed_at=MOMENT,
                )
            )
    return engine


def _as_sqlalchemy_reads(conn: sa.Connection, read: ReadIn, ids: list[str]) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in conn.execute(read.query.where(read.column.in_(ids)))}


@pytest.fixture
def engine(store_url: str) -> sa.Engine:
    return _filled(store_url)


def test_ids_past_one_statement_and_a_short_last_chunk_find_what_sqlalchemy_finds(engine: sa.Engine) -> None:
    # given 1,202 distinct ids (as a batch gives them): 1,199 stored, 3 unknown, read in two
    # full statements and a third padded with its last id
    ids = [f"ret-{n:04d}" for n in range(1, 1200)] + ["ret-9999", "nobody", ""]
    with engine.connect() as conn:
        ours = VERSIONS.rows(conn, ids)
        theirs = _as_sqlalchemy_reads(conn, VERSIONS, ids)
    # expect each stored one once (the padding matches nothing more), as SQLAlchemy reads it
    assert len(ours) == 1199
    assert {tuple(row) for row in ours} == theirs
    assert ("ret-0003", f"{3:064d}", "accepted") in theirs


def test_an_id_with_a_nul_finds_its_return_stored_with_u_fffd(engine: sa.Engine) -> None:
    # given the id as Reveni sent it, with its NUL
    with engine.connect() as conn:
        ours = VERSIONS.rows(conn, ["ret-\x00nul"])
    # expect the return the store keeps under U+FFFD
    assert [tuple(row) for row in ours] == [("ret-\ufffdnul", "f" * 64, "pending")]


def test_a_literal_constant_in_the_query_still_filters(engine: sa.Engine) -> None:
    # given two documents of which only one is served
    with engine.connect() as conn:
        ours = HELD.rows(conn, ["ret-0001", "ret-0002"])
    # expect only the served one
    assert [tuple(row) for row in ours] == [("RV-ret-0001", "served")]


def test_no_ids_reads_nothing(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert VERSIONS.rows(conn, []) == []


def test_a_column_the_driver_would_not_give_as_python_holds_it_is_refused(tmp_path: Path) -> None:
    # given a read of a Numeric column (SQLite gives a float; SQLAlchemy a Decimal)
    read = ReadIn(sa.select(credit_notes.c.gross), credit_notes.c.associated_ref)
    with open_store(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn, pytest.raises(TypeError, match="gross"):
        read.rows(conn, ["RV-1"])


def test_a_constant_left_as_a_parameter_is_refused(tmp_path: Path) -> None:
    # given a constant SQLAlchemy would send as a parameter, which the ids' statement would not fill
    read = ReadIn(sa.select(documents.c.associated_ref).where(documents.c.state == "served"), documents.c.return_id)
    with open_store(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn, pytest.raises(ValueError, match="state"):
        read.rows(conn, ["ret-1"])
