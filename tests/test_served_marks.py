"""A pull logs what it served and answers; its documents are marked served after
(served_marks.py): by the channel once Khaos pauses, by a channel stopping, and first by
whatever decides on a document's state. A mark is never lost, nor written out of order."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed, marks_settler
from target_khaos_control.served_marks import settled_first
from target_khaos_control.store import alembic_config, documents, open_store, pulls

from tests.in_process import InProcessChannel
from tests.khaos_docs import feed_row
from tests.servers import target_config

FIRST_CONTACT = {"Sirion-Continuation": "2019-12-31 12:00:00Z"}
PULLED, RE_REQUESTED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC), datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


def _marks(engine: sa.Engine) -> dict[str, tuple[str, datetime | None, datetime | None]]:
    """Each document's state and first and last served times, read as they are stored (nothing settled)."""
    query = sa.select(
        documents.c.associated_ref, documents.c.state, documents.c.first_served_at, documents.c.last_served_at
    )
    with engine.connect() as conn:
        return {
            ref: (state, first and first.replace(tzinfo=UTC), last and last.replace(tzinfo=UTC))
            for ref, state, first, last in conn.execute(query)
        }


def _pending(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(pulls.c.id).where(pulls.c.marks_pending.is_(True))).scalars())


def _three_documents(url: str) -> sa.Engine:
    """A store of three published documents, RV-1 to RV-3."""
    engine = open_store(url)
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in (1, 2, 3)])
    return engine


def _pulled(url: str, limit: int) -> sa.Engine:
    """Three documents, the first `limit` of them pulled at 10:00, the pull's marks pending."""
    engine = _three_documents(url)
    with engine.begin() as conn:
        feed.next_batch(conn, "2019-12-31T12:00:00", limit, "JSON", PULLED)
    return engine


def test_a_re_request_after_a_pull_whose_marks_are_pending_keeps_when_it_was_re_requested(store_url: str) -> None:
    # given three documents Khaos pulled at 10:00, the pull's marks not yet written
    engine = _pulled(store_url, 3)
    assert _marks(engine)["RV-2"] == ("published", None, None)

    # when a Khaos user re-requests RV-2 at 11:00 (its import failed)
    with engine.begin() as conn:
        feed.specific_batch(conn, ["RV-2"], "", "JSON", RE_REQUESTED)

    # expect the pull's marks written first, then the re-request's: RV-2 first served at 10:00,
    # last at 11:00, re-requested; the others served at 10:00; nothing left pending
    assert _marks(engine) == {
        "RV-1": ("served", PULLED, PULLED),
        "RV-2": ("re_requested", PULLED, RE_REQUESTED),
        "RV-3": ("served", PULLED, PULLED),
    }
    assert _pending(engine) == []
    engine.dispose()


def _channel_of_three(tmp_path: Path) -> InProcessChannel:
    config = target_config(tmp_path)
    _three_documents(config["database_url"]).dispose()
    return InProcessChannel(config, tmp_path).start()


def test_the_channel_writes_a_pulls_marks_once_khaos_pauses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # given a channel serving three documents
    caplog.set_level(logging.INFO, logger="reveni_khaos.channel")
    channel = _channel_of_three(tmp_path)
    try:
        # when Khaos pulls them, then pulls nothing more
        pulled = channel.get("/khaos/returns.json", headers=FIRST_CONTACT)
        assert [r["AssociatedRef"] for r in pulled.json()["Returns"]] == ["RV-1", "RV-2", "RV-3"]

        # expect, within moments (the channel waits for 0.2 s without a pull), all three marked
        # served by the channel itself, with no reader asking
        def written() -> list[str]:
            return [r.getMessage() for r in caplog.records if "served marks" in r.getMessage()]

        deadline = time.monotonic() + 10
        while (_pending(channel.engine) or not written()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pending(channel.engine) == []
        assert {state for state, *_ in _marks(channel.engine).values()} == {"served"}
        # and its log says so, once
        assert len(written()) == 1
        assert written()[0].startswith("wrote the served marks of 1 pull, all "), written()
    finally:
        channel.stop()


def test_a_channel_stopping_writes_the_marks_still_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a channel that would wait an hour for Khaos to pause, and a pull of three documents
    monkeypatch.setattr(marks_settler, "IDLE_SECONDS", 3600.0)
    channel = _channel_of_three(tmp_path)
    engine = open_store(channel.config["database_url"])
    channel.get("/khaos/returns.json", headers=FIRST_CONTACT)
    assert len(_pending(engine)) == 1

    # when the channel stops
    channel.stop()

    # expect the pull's marks written before it ended
    assert _pending(engine) == []
    assert {state for state, *_ in _marks(engine).values()} == {"served"}
    engine.dispose()


def test_taking_the_store_back_before_pending_marks_writes_them_first(store_url: str) -> None:
    # given a pull of two documents at 10:00 whose marks are pending
    engine = _pulled(store_url, 2)

    # when the store is taken back to revision 0022, which has no pending marks
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0022")

    # expect both marked served at the pull's time, as the pull would have marked them then
    assert _marks(engine) == {
        "RV-1": ("served", PULLED, PULLED),
        "RV-2": ("served", PULLED, PULLED),
        "RV-3": ("published", None, None),
    }
    engine.dispose()


def test_a_reader_writes_every_pending_mark_a_few_pulls_at_a_time(tmp_path: Path) -> None:
    # given ten documents, each pulled on its own at 10:0n (n its number), none of the marks written
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(n) for n in range(1, 11)])
    continuation = "2019-12-31T12:00:00"
    for n in range(1, 11):
        with engine.begin() as conn:
            moment = datetime(2026, 11, 20, 10, n, tzinfo=UTC)
            continuation = feed.next_batch(conn, continuation, 1, "JSON", moment).continuation
    assert len(_pending(engine)) == 10

    # when a reader of states settles first (four pulls a transaction)
    settled_first(engine)

    # expect all ten written, each document served at its own pull's time
    assert _pending(engine) == []
    assert _marks(engine) == {
        f"RV-{n}": ("served", datetime(2026, 11, 20, 10, n, tzinfo=UTC), datetime(2026, 11, 20, 10, n, tzinfo=UTC))
        for n in range(1, 11)
    }
    engine.dispose()
