"""On SQLite the channel's commits checkpoint the WAL themselves only past a backstop of
16 MB (at SQLite's 4 MB, one pull in three paid for copying it into the database file
before answering): a thread of the channel's does it after them."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel.checkpoints import BACKSTOP_PAGES, WalCheckpoints
from target_khaos_control.store import documents, open_store

from tests.khaos_docs import feed_row


def test_the_channel_checkpoints_the_wal_after_its_commits_not_in_them(tmp_path: Path) -> None:
    # given a SQLite store opened as `serve` opens it, its database file checkpointed
    store = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{store}")
    checkpoints = WalCheckpoints.off_the_answers(engine)
    assert checkpoints is not None
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = store.stat().st_size
    # when the channel commits over 1,000 pages (4 MB), where SQLite's commit would checkpoint
    with engine.begin() as conn:
        # expect: its connections leave checkpoints to the thread, up to the backstop
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == BACKSTOP_PAGES == 4096
        insert_documents(conn, [feed_row(n, notes="x" * 4000) for n in range(1, 1001)])
    # and the thread copies them into the database file soon after
    deadline = time.monotonic() + 30
    while store.stat().st_size < before + 4_000_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.stat().st_size > before + 4_000_000
    assert checkpoints.done >= 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(documents)).scalar_one() == 1000
    engine.dispose()


def test_on_postgres_nothing_changes() -> None:
    # given a Postgres engine (never connected to)
    engine = sa.create_engine("postgresql+psycopg://khaos@127.0.0.1:1/store")
    # expect: its checkpoints are Postgres's own business
    assert WalCheckpoints.off_the_answers(engine) is None
