"""The feed's lock. On SQLite a pull or a target waiting for it takes it as soon as the
other writer commits, and gives up after `BUSY_MS` with the database's own reason (how
soon is a figure for bench/channel_drain.py, not a test). On Postgres a pull with
nothing new to serve never waits for it."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from target_khaos_control import store, store_locks
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.store import open_store, pulls
from target_khaos_control.store_locks import lock_feed

from tests.khaos_docs import MOMENT, feed_row
from tests.servers import PostgresServer


def _pull_row(continuation: str) -> dict[str, object]:
    return {
        "at": store.now(),
        "format": "JSON",
        "specific_ids": False,
        "continuation_in": continuation,
        "continuation_out": continuation,
        "refs": "[]",
        "count": 0,
    }


def test_a_pull_waiting_for_the_feed_lock_takes_it_once_the_target_commits(tmp_path: Path) -> None:
    # given a target holding the feed's lock, writing, and committing a moment later
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    held, release = threading.Event(), threading.Event()

    def target() -> None:
        with engine.begin() as conn:
            lock_feed(conn)
            conn.execute(pulls.insert().values(**_pull_row("target")))
            held.set()
            release.wait(10)

    writer = threading.Thread(target=target)
    writer.start()
    assert held.wait(10)
    threading.Timer(0.05, release.set).start()
    # when a pull asks for the lock meanwhile
    with engine.begin() as conn:
        lock_feed(conn)
        # expect: it holds the lock only after the target committed, so it reads its write
        assert conn.execute(sa.select(pulls.c.continuation_in)).scalars().all() == ["target"]
        assert conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
        conn.execute(pulls.insert().values(**_pull_row("pull")))
    writer.join()
    with engine.connect() as conn:
        assert conn.execute(sa.select(pulls.c.continuation_in).order_by(pulls.c.id)).scalars().all() == [
            "target",
            "pull",
        ]
    engine.dispose()


def test_the_feed_lock_gives_up_after_the_busy_time_naming_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a writer that never lets go, and a wait of 0.1 s
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setattr(store_locks, "BUSY_MS", 100)
    with engine.begin() as holder:
        lock_feed(holder)
        # expect: the second gives up with SQLite's reason, and its connection still works after
        with engine.connect() as conn:
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                lock_feed(conn)
            conn.rollback()
            assert conn.execute(sa.select(sa.func.count()).select_from(pulls)).scalar_one() == 0
            # and it waits out a writer for BUSY_MS again: the setting was put back
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 100
    engine.dispose()


def _pull(engine: sa.Engine, continuation: str) -> feed.Slice:
    with engine.begin() as conn:
        return feed.next_batch(conn, continuation, 1000, "JSON", MOMENT)


def test_on_postgres_a_pull_with_nothing_new_answers_while_a_target_holds_the_feed_lock(
    postgres: PostgresServer,
) -> None:
    # given a feed of two documents Khaos has pulled
    name = f"t{uuid.uuid4().hex[:12]}"
    with sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = open_store(postgres.url.rsplit("/", 1)[0] + f"/{name}")
    with engine.begin() as conn:
        insert_documents(conn, [feed_row(1), feed_row(2)])
    first = _pull(engine, "2026-11-20 09:00:00Z")
    assert (first.refs, first.continuation) == (["RV-1", "RV-2"], "2")
    answers: list[feed.Slice] = []
    # when Khaos pulls again while a target, holding the feed's lock, publishes a third
    with engine.begin() as target:
        lock_feed(target)
        insert_documents(target, [feed_row(3)])
        pull = threading.Thread(target=lambda: answers.append(_pull(engine, "2")))
        pull.start()
        pull.join(20)  # only a guard against waiting for ever: the lock is still held here
        # expect: it answered before the target committed, with nothing, carrying on from 2
        assert [(answer.refs, answer.continuation) for answer in answers] == [([], "2")]
    pull.join()
    # and the next pull brings what the target published, once
    assert _pull(engine, "2").refs == ["RV-3"]
    assert _pull(engine, "3").refs == []
    with engine.connect() as conn:
        logged = conn.execute(sa.select(pulls.c.continuation_in, pulls.c.count).order_by(pulls.c.id)).all()
    assert [tuple(row) for row in logged] == [("2026-11-20 09:00:00Z", 2), ("2", 0), ("2", 1), ("3", 0)]
    engine.dispose()
