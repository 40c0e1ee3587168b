"""The feed's next page read while Khaos reads the last one (`channel/next_page.py`): a
pull carrying on from a whole page is answered from it only when the store is unchanged
since it was read; any change committed between the pulls is served as it now is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.channel.app import Channel
from target_khaos_control.channel.next_page import NextPage
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import document_bodies, documents, open_store, pulls

from tests.khaos_docs import MOMENT, feed_row
from tests.servers import target_config

FIRST_CONTACT = "2019-12-31T12:00:00"


@pytest.fixture
def any_store(store_url: str) -> Iterator[Engine]:
    """A store of five published documents, on SQLite, then on Postgres."""
    engine = open_store(store_url)
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 6)])
    yield engine
    engine.dispose()


def _pull(engine: Engine, ahead: NextPage, continuation: str) -> feed.Slice:
    """A pull of two, as the channel makes it: after a whole page, the next one is read ahead."""
    with engine.begin() as conn:
        batch = feed.next_batch(conn, continuation, 2, "JSON", MOMENT, ahead=ahead)
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
    with any_store.connect() as conn:
        states = {row.associated_ref: row.state for row in conn.execute(sa.select(documents))}
        stretches = conn.execute(sa.select(pulls.c.first_position, pulls.c.last_position).order_by(pulls.c.id)).all()
    assert states == {f"RV-{n}": "served" for n in range(1, 6)}
    assert [tuple(s) for s in stretches] == [(1, 2), (3, 4), (5, 5), (None, None)]


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


def test_the_channel_reads_ahead_after_a_whole_page_only(tmp_path: Path) -> None:
    # given a channel serving five documents, two a pull
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 6)])
    config = target_config(tmp_path, batch_size=2)
    channel = Channel(engine, ChannelSettings.from_config(config, str(tmp_path / "config.json")))
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
