"""On SQLite the channel's commits checkpoint the WAL themselves only past a backstop of
16 MB (at SQLite's 4 MB, one pull in three paid for copying it into the database file
before answering): a thread of the channel's does it after them."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel.checkpoints import BACKSTOP_PAGES, WalCheckpoints
from target_khaos_control.store import CACHE_KB, WAL_PAGES, documents, open_store

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


def test_a_target_checkpoints_every_ten_batches_or_so_and_the_channel_keeps_its_small_cache(tmp_path: Path) -> None:
    # given a store opened by a target, and the same store opened as `serve` opens it
    target = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    channel = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    WalCheckpoints.off_the_answers(channel)

    def settings(engine: sa.Engine) -> tuple[int, int]:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql
            return pragma("PRAGMA wal_autocheckpoint").scalar_one(), pragma("PRAGMA cache_size").scalar_one()

    # expect the target's commits to checkpoint past 128 MB of WAL (a batch into a grown store
    # rewrites pages the next batches rewrite again), with a 16 MB page cache
    assert settings(target) == (WAL_PAGES, -CACHE_KB) == (32_768, -16_384)
    # and the channel's many connections to checkpoint past 16 MB, with SQLite's 2 MB cache each
    assert settings(channel) == (BACKSTOP_PAGES, -2000)
    target.dispose()
    channel.dispose()


def test_on_postgres_nothing_changes() -> None:
    # given a Postgres engine (never connected to)
    engine = sa.create_engine("postgresql+psycopg://khaos@127.0.0.1:1/store")
    # expect: its checkpoints are Postgres's own business
    assert WalCheckpoints.off_the_answers(engine) is None
