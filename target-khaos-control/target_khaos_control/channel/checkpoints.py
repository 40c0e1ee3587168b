"""SQLite's WAL checkpoints, kept off the channel's answers.

In WAL mode every commit appends the pages it changed to the WAL, and by default the
commit that takes the WAL past 1,000 pages also copies it back into the database file
and syncs it (an automatic checkpoint). A pull rewrites about 300 pages (each served
document's row), so one pull in three paid for a checkpoint before answering Khaos.
The channel's connections leave checkpoints to a thread of the channel's: each time one
is handed back after its work (committed by then), the thread checkpoints what it can
(PASSIVE: it never waits for, nor blocks, a reader or a writer). The WAL starts again
from its beginning only at a write that begins after a complete checkpoint, which pulls
back to back leave no room for: so the connections keep SQLite's own checkpoint as a
backstop at BACKSTOP_PAGES (16 MB), where it finds nearly everything already copied.
A target's connections keep their own checkpoints, past store.WAL_PAGES, and a larger page
cache; the channel's, many in its pool, keep SQLite's default cache (2 MB each).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("reveni_khaos.channel")
BACKSTOP_PAGES = 4096  # the WAL's bound: SQLite's own checkpoint past it (its default is 1,000)
SQLITE_CACHE_KB = 2000  # SQLite's default page cache
IDLE_SECONDS = 60  # the thread ends after this long with no work done; the next starts it again


class WalCheckpoints:
    """The checkpoints of one SQLite engine, run by a thread after its connections' work."""

    def __init__(self, engine: Engine) -> None:
        """No thread yet: the first connection handed back starts it."""
        self.engine = engine
        self.due = threading.Event()
        self.guard = threading.Lock()
        self.thread: threading.Thread | None = None
        self.done = 0  # checkpoints run, for the tests and a curious operator

    @classmethod
    def off_the_answers(cls, engine: Engine) -> WalCheckpoints | None:
        """On SQLite: the engine's connections checkpoint in their commits only past the
        backstop, and this thread does it after them. Nothing on Postgres."""
        if engine.dialect.name != "sqlite":
            return None
        checkpoints = cls(engine)
        sa.event.listen(engine, "connect", _no_automatic_checkpoint)
        # Handed back, not "commit": that event comes before the commit itself.
        sa.event.listen(engine, "checkin", checkpoints.after_work)
        engine.dispose()  # the connections opened before (migrating the store) reconnect without it
        return checkpoints

    def after_work(self, *_connection: Any) -> None:
        """A connection was handed back: a checkpoint is due (its thread started if need be)."""
        if threading.current_thread() is self.thread:  # its own connection, handed back
            return
        self.due.set()
        with self.guard:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while self.due.wait(IDLE_SECONDS):
            self.due.clear()
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.done += 1
            except Exception:  # the next one tries again; the WAL only grows meanwhile
                log.exception("a WAL checkpoint failed; the channel's next work asks for another")
        with self.guard:  # idle: end, unless work came in just now
            self.thread = None
        if self.due.is_set():
            self.after_work()


def _no_automatic_checkpoint(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    dbapi_connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
