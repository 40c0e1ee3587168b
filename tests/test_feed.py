"""The feed's bookkeeping stays the same size whatever the store holds: a pull is marked
and logged as the stretch of the feed it served, the pull log is bounded, and the
first-contact walk starts past what was served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.served_marks import settled_first
from target_khaos_control.store import MIGRATIONS, documents, exceptions, open_store, pulls

from tests.khaos_docs import MOMENT, feed_row


def _store(tmp_path: Path, count: int) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, count + 1)])
    return engine


def _pull(engine: Engine, continuation: str, limit: int = 3) -> feed.Slice:
    with engine.begin() as conn:
        return feed.next_batch(conn, continuation, limit, "JSON", MOMENT)


def test_a_pull_is_logged_as_the_stretch_of_the_feed_it_served(tmp_path: Path) -> None:
    engine = _store(tmp_path, 5)

    batch = _pull(engine, "2019-12-31T12:00:00")

    # expect the pull logged with its marks pending, the documents not yet marked
    with engine.connect() as conn:
        logged = conn.execute(sa.select(pulls)).one()
        unmarked = {row.associated_ref: row.state for row in conn.execute(sa.select(documents))}
    assert batch.refs == ["RV-1", "RV-2", "RV-3"]
    logged_count = logged._mapping["count"]  # `count` is also a method of a row
    assert (logged.first_position, logged.last_position, logged_count, logged.refs) == (1, 3, 3, "[]")
    assert logged.marks_pending is True
    assert set(unmarked.values()) == {"published"}
    # and once the marks are written (the channel writes them when Khaos pauses), its stretch served
    settled_first(engine)
    with engine.connect() as conn:
        states = {row.associated_ref: row.state for row in conn.execute(sa.select(documents))}
        pending = conn.execute(sa.select(pulls.c.marks_pending)).scalar_one()
    assert states == {"RV-1": "served", "RV-2": "served", "RV-3": "served", "RV-4": "published", "RV-5": "published"}
    assert pending is False


def test_a_pull_keeps_a_re_request_mark_and_the_first_time_served(tmp_path: Path) -> None:
    engine = _store(tmp_path, 3)
    with engine.begin() as conn:
        feed.specific_batch(conn, ["RV-2"], "", "JSON", datetime(2026, 11, 19, tzinfo=UTC))

    _pull(engine, "0")

    settled_first(engine)
    with engine.connect() as conn:
        rows = {row.associated_ref: row for row in conn.execute(sa.select(documents))}
    assert [rows[ref].state for ref in ("RV-1", "RV-2", "RV-3")] == ["served", "re_requested", "served"]
    assert rows["RV-2"].first_served_at.replace(tzinfo=UTC) == datetime(2026, 11, 19, tzinfo=UTC)
    assert rows["RV-2"].state_changed_at.replace(tzinfo=UTC) == datetime(2026, 11, 19, tzinfo=UTC)


def test_the_same_first_contact_again_starts_where_that_pull_did(tmp_path: Path) -> None:
    engine = _store(tmp_path, 5)
    first = _pull(engine, "2019-12-31T12:00:00")

    again = _pull(engine, "2019-12-31T12:00:00")  # Khaos lost our answer

    assert again.refs == first.refs


def test_the_pull_log_keeps_only_the_latest_pulls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _store(tmp_path, 10)
    monkeypatch.setattr(feed, "PULLS_KEPT", 2)

    continuation = "0"
    for _ in range(4):
        continuation = _pull(engine, continuation, limit=2).continuation
        settled_first(engine)  # as the channel does when Khaos pauses

    with engine.connect() as conn:
        kept = conn.execute(sa.select(pulls.c.first_position).order_by(pulls.c.id)).scalars().all()
    assert kept == [5, 7]


def test_the_pull_log_never_drops_a_pull_whose_marks_are_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a log that keeps two pulls, and four pulls whose marks nobody has written yet
    engine = _store(tmp_path, 10)
    monkeypatch.setattr(feed, "PULLS_KEPT", 2)
    continuation = "0"
    for _ in range(4):
        continuation = _pull(engine, continuation, limit=2).continuation

    # expect all four kept: the log is what says RV-1 to RV-8 were served
    with engine.connect() as conn:
        kept = conn.execute(sa.select(pulls.c.first_position).order_by(pulls.c.id)).scalars().all()
    assert kept == [1, 3, 5, 7]
    # and once their marks are written, each of the eight served, and the next pull prunes the log
    settled_first(engine)
    _pull(engine, continuation, limit=2)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(pulls.c.first_position).order_by(pulls.c.id)).scalars().all()
        states = conn.execute(sa.select(documents.c.state).order_by(documents.c.feed_position)).scalars().all()
    assert kept == [7, 9]
    assert states == ["served"] * 8 + ["published"] * 2


def test_a_first_contact_starts_at_the_end_of_what_khaos_sent_back(tmp_path: Path) -> None:
    """Khaos sent "3" back, so it had RV-1 to RV-3; RV-4 and RV-5 were served, but nothing
    proves Khaos got them: a first contact serves them again."""
    engine = _store(tmp_path, 5)
    continuation = "0"
    for _ in range(2):
        continuation = _pull(engine, continuation).continuation
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(6)])

    with engine.connect() as conn:
        through = feed.served_through(conn)
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT min(feed_position) FROM documents WHERE feed_position > 5 "
            "AND state = 'published'"
        ).all()
    assert through == 5
    assert "(feed_position>?)" in " ".join(str(row[-1]) for row in plan), plan
    assert _pull(engine, "2019-12-31T12:00:00").refs == ["RV-4", "RV-5", "RV-6"]


def test_a_position_never_given_out_is_served_from_what_khaos_provably_had(tmp_path: Path) -> None:
    engine = _store(tmp_path, 6)

    batch = _pull(engine, "3")  # no pull ever answered "3"

    with engine.connect() as conn:
        opened = conn.execute(sa.select(exceptions.c.kind, exceptions.c.owner, exceptions.c.status)).all()
    assert batch.refs == ["RV-1", "RV-2", "RV-3"]
    assert [tuple(row) for row in opened] == [("unknown_continuation", "integration", "open")]
    assert _pull(engine, batch.continuation).refs == ["RV-4", "RV-5", "RV-6"], "what it answered is trusted"


def test_a_store_from_before_learns_where_its_last_pull_started(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with sa.create_engine(url).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
        with_body = sa.table("documents", *(sa.column(c.name, c.type) for c in documents.c), sa.column("body"))
        conn.execute(with_body.insert(), [feed_row(n, "served") for n in (1, 2)] + [feed_row(3)])
        conn.execute(
            sa.text(
                "insert into pulls (at, format, specific_ids, continuation_in, continuation_out, refs, count)"
                " values (:at, 'JSON', false, '2019-12-31T12:00:00', '2', :refs, 2)"
            ),
            {"at": MOMENT, "refs": json.dumps(["RV-1", "RV-2"])},
        )

    engine = open_store(url)

    with engine.connect() as conn:
        logged = conn.execute(sa.select(pulls)).one()
    assert (logged.first_position, logged.last_position, logged.refs, logged.served_through) == (1, 2, "[]", 2)
    assert _pull(engine, "2019-12-31T12:00:00").refs == ["RV-1", "RV-2", "RV-3"]
    # Khaos never sent "2" or "3" back: nothing proves it had them, so a new first contact
    # serves them again (Khaos refuses what it already has by its AssociatedRef).
    assert _pull(engine, "2020-01-01T12:00:00").refs == ["RV-1", "RV-2", "RV-3"]


@pytest.fixture
def any_store(store_url: str) -> Iterator[Engine]:
    """A new store on SQLite, then on Postgres (where a pull reads and marks its page in one statement)."""
    engine = open_store(store_url)
    yield engine
    engine.dispose()


def test_a_pull_marks_exactly_its_page_served_on_sqlite_and_postgres(any_store: Engine) -> None:
    # given six documents: RV-3 withdrawn before Khaos pulled it, RV-2 re-requested on the 19th
    engine = any_store
    rows = [feed_row(n, "superseded" if n == 3 else "published") for n in range(1, 7)]
    with engine.begin() as conn:
        insert_documents(conn, rows)
        feed.specific_batch(conn, ["RV-2"], "", "JSON", datetime(2026, 11, 19, tzinfo=UTC))

    # when Khaos makes its first contact, three a pull
    batch = _pull(engine, "2019-12-31T12:00:00")

    # expect the three servable documents from the start, in feed order, with their bodies
    assert (batch.refs, batch.continuation) == (["RV-1", "RV-2", "RV-4"], "4")
    assert [json.loads(body) for body in batch.bodies] == [{"AssociatedRef": ref} for ref in batch.refs]
    # and, once its marks are written, exactly those three marked served at the pull's time
    settled_first(engine)
    with engine.connect() as conn:
        marks = {
            row.associated_ref: (row.state, row.first_served_at, row.last_served_at)
            for row in conn.execute(sa.select(documents))
        }
        logged = conn.execute(sa.select(pulls).order_by(pulls.c.id.desc()).limit(1)).one()
    on_19th, pulled = datetime(2026, 11, 19, tzinfo=UTC), MOMENT
    assert {
        ref: (state, *(m and m.replace(tzinfo=UTC) for m in moments)) for ref, (state, *moments) in marks.items()
    } == {
        "RV-1": ("served", pulled, pulled),
        "RV-2": ("re_requested", on_19th, pulled),  # Khaos said its import failed: that stays on record
        "RV-3": ("superseded", None, None),
        "RV-4": ("served", pulled, pulled),
        "RV-5": ("published", None, None),
        "RV-6": ("published", None, None),
    }
    logged_count = logged._mapping["count"]
    assert (logged.first_position, logged.last_position, logged_count, logged.continuation_out) == (1, 4, 3, "4")
    # and the next pull, carrying on from "4", the rest; then nothing, carrying on from "6"
    assert _pull(engine, "4").refs == ["RV-5", "RV-6"]
    assert (_pull(engine, "6").refs, _pull(engine, "6").continuation) == ([], "6")


def test_a_pull_carrying_on_from_the_last_marks_nothing_before_it_answers(any_store: Engine) -> None:
    # given a feed Khaos has started on, two a pull
    engine = any_store
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 6)])
    continuation = _pull(engine, "2019-12-31T12:00:00", limit=2).continuation
    statements: list[str] = []

    def note(*args: object) -> None:
        statements.append(str(args[2]).split()[0])

    # when it pulls on from where that pull ended
    sa.event.listen(engine, "before_cursor_execute", note)
    batch = _pull(engine, continuation, limit=2)
    sa.event.remove(engine, "before_cursor_execute", note)

    # expect the next two, with no document written: the feed's lock (on SQLite, BEGIN
    # IMMEDIATE, the driver's), where the feed is, the page, the pull logged (its marks pending)
    assert batch.refs == ["RV-3", "RV-4"]
    on_postgres = engine.dialect.name == "postgresql"
    assert statements == (["SELECT", "SELECT", "SELECT", "INSERT"] if on_postgres else ["SELECT", "SELECT", "INSERT"])
