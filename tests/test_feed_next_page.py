"""The feed's next page read while Khaos reads the last one (`channel/next_page.py`): a
pull carrying on from a whole page is answered from it only when the store is unchanged
since it was read; any change committed between the pulls is served as it now is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.channel.app import Channel
from target_khaos_control.channel.feed_statements import PAGE, TRY_FEED_LOCK
from target_khaos_control.channel.next_page import NextPage
from target_khaos_control.served_marks import settled_first
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import document_bodies, documents, open_store, pulls

from tests.khaos_docs import MOMENT, feed_row
from tests.servers import PostgresServer, target_config

FIRST_CONTACT = "2019-12-31T12:00:00"


@pytest.fixture
def any_store(store_url: str) -> Iterator[Engine]:
    """A store of five published documents, on SQLite, then on Postgres."""
    engine = open_store(store_url)
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 6)])
    yield engine
    engine.dispose()


def _pull(engine: Engine, ahead: NextPage, continuation: str, moment: datetime = MOMENT) -> feed.Slice:
    """A pull of two, as the channel makes it: after a whole page, the next one is read ahead."""
    with engine.begin() as conn:
        batch = feed.next_batch(conn, continuation, 2, "JSON", moment, ahead=ahead)
    if len(batch.refs) == 2:
        ahead.read_after(int(batch.continuation), 2)
    return batch


def test_a_drain_answered_from_pages_read_ahead_serves_and_marks_what_it_would_without(any_store: Engine) -> None:
    # given five documents and a channel reading ahead, two a pull
    ahead = NextPage(any_store)

    # when Khaos drains the feed, each pull carrying on from the last
    batches = [_pull(any_store, ahead, FIRST_CONTACT)]
    while batches[-1].refs:
        batches.append(_pull(any_store, ahead, batches[-1].continuation))

    # expect the pages in feed order with their bodies, each pull after a whole page answered
    # from the page read ahead, and every document marked served, each pull logged as its stretch
    assert [(b.refs, b.continuation) for b in batches] == [
        (["RV-1", "RV-2"], "2"),
        (["RV-3", "RV-4"], "4"),
        (["RV-5"], "5"),
        ([], "5"),
    ]
    assert [json.loads(body) for b in batches for body in b.bodies] == [
        {"AssociatedRef": f"RV-{n}"} for n in range(1, 6)
    ]
    assert ahead.used == 2
    settled_first(any_store)  # the marks, written when Khaos pauses
    with any_store.connect() as conn:
        states = {row.associated_ref: row.state for row in conn.execute(sa.select(documents))}
        stretches = conn.execute(sa.select(pulls.c.first_position, pulls.c.last_position).order_by(pulls.c.id)).all()
    assert states == {f"RV-{n}": "served" for n in range(1, 6)}
    assert [tuple(s) for s in stretches] == [(1, 2), (3, 4), (5, 5), (None, None)]


def test_pages_read_ahead_are_marked_served_as_a_page_read_by_its_pull(any_store: Engine) -> None:
    # given five documents, RV-3 served on the 1st and re-requested by Khaos on the 2nd
    first, again = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    with any_store.begin() as conn:
        conn.execute(
            documents.update()
            .where(documents.c.associated_ref == "RV-3")
            .values(state="re_requested", first_served_at=first, last_served_at=again, state_changed_at=again)
        )
    ahead = NextPage(any_store)

    # when Khaos drains the feed, two a pull, each pull at its own moment: the first reads
    # its page itself, the second and third are answered from pages read ahead
    moments = [datetime(2026, 11, 20, 10, minute, tzinfo=UTC) for minute in (1, 2, 3, 4)]
    continuation = FIRST_CONTACT
    for moment in moments:
        continuation = _pull(any_store, ahead, continuation, moment).continuation

    # expect, once the pulls' marks are written (all three at once, in the order Khaos pulled),
    # each document marked by the pull that served it, RV-3 keeping its re-request (its state
    # and when it changed) and when it was first served
    assert ahead.used == 2
    settled_first(any_store)
    with any_store.connect() as conn:
        marks = {
            row.associated_ref: (row.state, *(moment.replace(tzinfo=UTC) for moment in row[2:]))
            for row in conn.execute(
                sa.select(
                    documents.c.associated_ref,
                    documents.c.state,
                    documents.c.state_changed_at,
                    documents.c.first_served_at,
                    documents.c.last_served_at,
                )
            )
        }
    one, two, three = moments[:3]
    assert marks == {
        "RV-1": ("served", one, one, one),
        "RV-2": ("served", one, one, one),
        "RV-3": ("re_requested", again, first, two),
        "RV-4": ("served", two, two, two),
        "RV-5": ("served", three, three, three),
    }


def test_a_pull_answered_from_a_page_read_ahead_prunes_the_pull_log(
    any_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a pull log that keeps two pulls
    monkeypatch.setattr(feed, "PULLS_KEPT", 2)
    ahead = NextPage(any_store)

    # when Khaos drains the five documents, two a pull, the last two pulls answered from pages read ahead
    continuation = FIRST_CONTACT
    for _ in range(3):
        continuation = _pull(any_store, ahead, continuation).continuation

    # expect all three kept while their marks are pending; once written, the next pull
    # (the feed's end: nothing served) keeps only itself and the last one before it
    assert ahead.used == 2
    with any_store.connect() as conn:
        kept = conn.execute(sa.select(pulls.c.first_position).order_by(pulls.c.id)).scalars().all()
    assert kept == [1, 3, 5]
    settled_first(any_store)
    _pull(any_store, ahead, continuation)
    with any_store.connect() as conn:
        kept = conn.execute(sa.select(pulls.c.first_position).order_by(pulls.c.id)).scalars().all()
    assert kept == [5, None]


def test_a_pull_on_the_connection_that_read_ahead_holds_the_feeds_lock_to_its_commit(postgres: PostgresServer) -> None:
    # given a Postgres store of one pooled connection, which just read a page ahead (in autocommit)
    url = postgres.new_database()
    open_store(url).dispose()
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 6)])
    ahead = NextPage(engine)
    ahead.read_after(0, 2)
    assert ahead.ahead is not None
    assert ahead.ahead.result() is not None

    # when a pull on that connection takes the feed's lock, its transaction still open
    with engine.begin() as pull, sa.create_engine(url).connect() as other:
        taken = pull.execute(TRY_FEED_LOCK).scalar()
        # expect the lock held until the pull commits: nobody else takes it meanwhile
        assert taken is True
        assert other.execute(TRY_FEED_LOCK).scalar() is False
    engine.dispose()


@pytest.mark.parametrize("through", ["another connection", "the channel's own engine"])
def test_a_change_committed_between_pulls_is_served_as_it_now_is(any_store: Engine, through: str) -> None:
    # given Khaos's first pull, after which the channel read the next page (RV-3, RV-4) ahead
    ahead = NextPage(any_store)
    first = _pull(any_store, ahead, FIRST_CONTACT)
    assert ahead.ahead is not None
    assert ahead.ahead.result() is not None  # read, before anything changes

    # when, before Khaos pulls again, RV-3's body is rewritten and RV-4 is withdrawn
    writer = sa.create_engine(any_store.url) if through == "another connection" else any_store
    with writer.begin() as conn:
        changed = json.dumps({"AssociatedRef": "RV-3", "Notes": "rewritten"})
        rv3 = sa.select(documents.c.id).where(documents.c.associated_ref == "RV-3").scalar_subquery()
        conn.execute(document_bodies.update().where(document_bodies.c.document_id == rv3).values(body=changed))
        conn.execute(documents.update().where(documents.c.associated_ref == "RV-4").values(state="superseded"))
    second = _pull(any_store, ahead, first.continuation)

    # expect the page as the store now has it: RV-3 rewritten, RV-4 skipped for RV-5
    assert (second.refs, second.continuation) == (["RV-3", "RV-5"], "5")
    assert json.loads(second.bodies[0]) == {"AssociatedRef": "RV-3", "Notes": "rewritten"}
    assert ahead.used == 0


def test_a_page_read_ahead_holds_what_the_pulls_own_read_would(any_store: Engine) -> None:
    # given five documents, and the page of three after the first read ahead (as the driver
    # gives it: no SQLAlchemy row, nor any conversion a column's type would make)
    ahead = NextPage(any_store)
    ahead.read_after(1, 3)

    # when a pull carrying on from there takes it, and reads the same page itself
    with any_store.begin() as conn:
        taken = ahead.take(conn, 1, 3)
        own = conn.execute(PAGE, {"after": 1, "limit": 3}).all()

    # expect the same rows, value for value and type for type, as SQLAlchemy reads them
    assert taken is not None
    assert [tuple(row[:3]) for row in taken] == [tuple(row) for row in own]
    assert [[type(value) for value in row[:3]] for row in taken] == [[type(value) for value in row] for row in own]
    assert [row[0] for row in taken] == ["RV-2", "RV-3", "RV-4"]


def test_a_pull_not_carrying_on_from_the_last_page_is_not_answered_from_the_page_read_ahead(
    any_store: Engine,
) -> None:
    # given Khaos's first pull, after which the channel read the next page ahead
    ahead = NextPage(any_store)
    first = _pull(any_store, ahead, FIRST_CONTACT)

    # when Khaos, having lost that answer, pulls with its first contact again
    again = _pull(any_store, ahead, FIRST_CONTACT)

    # expect that pull's page again, not the one read ahead
    assert (again.refs, again.continuation) == (first.refs, "2") == (["RV-1", "RV-2"], "2")
    assert ahead.used == 0


def test_the_channel_reads_ahead_after_a_whole_page_only(any_store: Engine, tmp_path: Path) -> None:
    # given a channel serving five documents, two a pull (on Postgres the next page is read
    # from the commit on, on SQLite once the answer is sent)
    config = target_config(tmp_path, database_url=any_store.url.render_as_string(hide_password=False), batch_size=2)
    channel = Channel(any_store, ChannelSettings.from_config(config, str(tmp_path / "config.json")))
    login = (config["channel_username"], config["channel_password"])

    # when Khaos drains it and then pulls once more on the feed's end
    continuation, answers = FIRST_CONTACT, []
    with TestClient(channel.app()) as khaos:
        for _ in range(4):
            answer = khaos.get("/khaos/returns.json", headers={"Sirion-Continuation": continuation}, auth=login)
            continuation = answer.headers["Sirion-Continuation"]
            answers.append([r["AssociatedRef"] for r in answer.json()["Returns"]])

    # expect the pulls after each whole page answered from the page read ahead, and none
    # read after the short page (an idle feed's polls cost nothing more)
    assert answers == [["RV-1", "RV-2"], ["RV-3", "RV-4"], ["RV-5"], []]
    assert channel.next_page.used == 2
    assert channel.next_page.ahead is None


def test_the_channel_reads_its_pages_without_parallel_workers_on_postgres(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # given a Postgres store of 5,000 documents, its planner told to use a worker wherever it
    # may (as it chose to past about 60% of a 1M feed: 9 ms a page against 2 ms)
    url = postgres.new_database()
    engine = open_store(url)
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 5001)])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE documents")
        conn.commit()
    page = str(
        PAGE.params(after=2500, limit=1000).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    )

    def plan() -> str:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET force_parallel_mode = on")  # a worker wherever the planner may use one
            return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {page.replace('%', '%%')}"))

    gathered = plan()

    # when the channel serves the store
    config = target_config(tmp_path, database_url=url)
    Channel(engine, ChannelSettings.from_config(config, str(tmp_path / "config.json")))

    # expect its connections to read the page with no worker, where the planner's own choice gathered one
    assert "Gather" in gathered
    assert "Gather" not in plan()
    engine.dispose()
