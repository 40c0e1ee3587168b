"""The store's locks: the feed's, Khaos's pushes' and the migrations', each held until the
transaction ends. On Postgres each is an advisory lock every process sharing the store
honours; SQLite has one lock, the database's write lock, taken up front."""

from __future__ import annotations

import sqlite3
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Any fixed numbers: the keys of Postgres's locks (pg_advisory_xact_lock).
FEED_LOCK = 0x5245_5645_4E49  # "REVENI"
PUSH_LOCK = FEED_LOCK + 1  # Khaos's pushes, one at a time: identical pushes at once upsert, never clash
MIGRATION_LOCK = FEED_LOCK + 2
BUSY_MS = 10_000  # how long a write on SQLite waits out another writer before it fails
LOCK_POLL_SECONDS = 0.001


def hold(conn: Connection, key: int) -> None:
    """Hold the lock `key` until this transaction ends: on Postgres an advisory lock;
    on SQLite, which has one lock, the database's write lock taken up front."""
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if not driver.in_transaction:  # type: ignore[union-attr]
            _begin_immediate(driver)  # type: ignore[arg-type]
    elif conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _begin_immediate(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, asked again every millisecond while another writer holds the lock,
    for up to BUSY_MS. SQLite's own wait (busy_timeout) sleeps longer and longer between
    tries, up to 100 ms, so a pull queued behind a target's batch would go on sleeping
    well after the batch committed; this takes the lock as soon as it is free."""
    deadline = time.monotonic() + BUSY_MS / 1000
    driver.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, error) from None
                time.sleep(LOCK_POLL_SECONDS)
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_MS}")


def lock_feed(conn: Connection) -> None:
    """Hold the feed's write lock from here until this transaction ends.

    The target reads each document's state, decides, then writes; Khaos's pulls read
    the feed, then mark what they served. Each holds this lock before it reads, so
    neither decides on a state the other is about to change: on SQLite the transaction
    takes the database's write lock up front (BEGIN IMMEDIATE; the driver would
    otherwise begin only at the first write), on Postgres an advisory lock that every
    process sharing the store honours."""
    hold(conn, FEED_LOCK)
