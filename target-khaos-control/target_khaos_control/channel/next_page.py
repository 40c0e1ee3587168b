"""The feed's next page, read while Khaos reads the last one.

In a drain Khaos pulls page after page, and while it reads one answer (~800 KB) the
channel sits idle. So after serving a whole page the channel reads the page after it,
as the next pull would, and keeps it with the store's commit mark of that moment. The
next pull takes it only if it carries on from exactly there, with the same page size,
and nothing at all was committed to the store since: then its own read would give the
same rows. Anything committed in between (a target's batch, a dashboard action, another
pull, served marks written) and the pull reads its page as usual. Either way the pull
logs its page under the feed's lock, as ever (its served marks are written later:
served_marks.py).

What the kept page is keyed by, and why that is complete: the page's query takes only
`after` and `limit`; everything else it depends on is the store's content, and the
commit mark changes with any commit to the store. SQLite's mark is `PRAGMA
data_version` on the connection that read the page, which changes whenever any other
connection, of any process, commits. Postgres's is the snapshot (`pg_current_snapshot`):
a transaction that committed was either running then (in its list) or started later (at
or past its xmax), and its end changes one or the other. Postgres reads the page and the
snapshot it reads in with one statement, so the mark is the page's own; SQLite's mark is
read before the page, so a commit between the two is seen as a change, never missed.

Tried (issue 22): on Postgres, the page also marked served ahead, in a transaction held
open under the feed's lock for up to 0.1 s until the next pull logged itself in it and
committed (so no one saw the marks before the pull, and a crash lost nothing). No gain: a
drain keeps both CPUs busy (Khaos's reading on one, the channel and Postgres on the other),
so the marking moved into Khaos's reading time still costs the drain its CPU, and the
channel spent more a pull. At 100k, 6 interleaved pairs, at the 1M rate: 11.39 s as here,
12.38 s held (slower in 5 of 6), the channel's CPU 5.45 ms a pull against 4.60; with the page
read and marked in one statement, 18.76 s against 18.68 on a busier machine. Only less
marking work shortens the drain (the marking left out altogether: 11.95 -> 8.65 s); so the
marks are now written after the answer, once Khaos pauses (served_marks.py). And past ~60%
of a 1M feed Postgres read this page with two parallel workers, 9 ms against 2 ms: the
channel's connections plan without them (store.without_parallel_workers). At 1M on
Postgres the drain went from 14.0 s to 12.3 s with the second alone, 8.3 s with both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Executable

from target_khaos_control.channel.feed_statements import PAGE, PAGE_WITH_MARK

log = logging.getLogger("reveni_khaos.channel")
SNAPSHOT = "SELECT pg_current_snapshot()::text"
DATA_VERSION = "PRAGMA data_version"


@dataclass(frozen=True)
class _Page:
    after: int
    limit: int
    mark: object  # the store's commit mark as of the page (None for an empty one on Postgres: never taken)
    rows: Sequence[Sequence[Any]]  # as PAGE gives them: (reference, body, position), on Postgres with the mark


class NextPage:
    """At most one page of the feed read ahead, for the pull that carries on from the last one served."""

    def __init__(self, engine: Engine) -> None:
        """Read ahead on this store; nothing is read until a pull asks."""
        self.engine = engine
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="next-page")
        self.guard = threading.Lock()
        self.ahead: Future[_Page | None] | None = None
        # SQLite: data_version counts other connections' commits, so one connection of
        # its own reads both the marks and the pages (one at a time).
        self.own: Connection | None = None
        self.own_lock = threading.RLock()
        self.used = 0  # pulls answered with a page read ahead

    def read_after(self, after: int, limit: int) -> None:
        """Start reading the `limit` documents after feed position `after` (any page read before is dropped)."""
        with self.guard:
            self.ahead = self.reader.submit(self._read, after, limit)

    def take(self, conn: Connection, after: int, limit: int, mark: object = None) -> Sequence[Sequence[Any]] | None:
        """The page read ahead if it is the one after `after` of `limit` documents and the
        store is unchanged since; None otherwise. `conn` is the pull's, under the feed's lock;
        `mark` the store's commit mark it read under the lock (read here when None)."""
        with self.guard:
            ahead, self.ahead = self.ahead, None
        page = ahead.result() if ahead is not None else None  # waits for a read under way
        if page is None or (page.after, page.limit) != (after, limit):
            return None
        if (self._mark(conn) if mark is None else mark) != page.mark:
            return None
        self.used += 1
        return page.rows

    def _read(self, after: int, limit: int) -> _Page | None:
        try:
            page = {"after": after, "limit": limit}
            with self._reading() as conn:
                if conn.dialect.name == "postgresql":  # one round trip: the page and its snapshot
                    rows = _driver_rows(conn, PAGE_WITH_MARK, page)
                    mark = rows[0][3] if rows else None
                else:
                    mark = self._mark(conn)
                    rows = _driver_rows(conn, PAGE, page)
                conn.rollback()  # no transaction left open (on SQLite; Postgres reads in autocommit)
            return _Page(after, limit, mark, rows)
        except Exception:  # the next pull reads its page itself
            log.exception("reading the feed's next page ahead failed; the next pull reads it itself")
            return None

    def _mark(self, conn: Connection) -> object:
        """The store's commit mark now: Postgres's snapshot on `conn`; SQLite's data_version on the reader's own connection."""
        if conn.dialect.name == "postgresql":
            return conn.exec_driver_sql(SNAPSHOT).scalar_one()
        with self._reading() as own:
            version = own.exec_driver_sql(DATA_VERSION).scalar_one()
            own.rollback()
            return version

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection to read with: on Postgres one from the pool, autocommit; on SQLite the reader's own, held meanwhile."""
        if self.engine.dialect.name == "postgresql":
            # Autocommit: the page's one statement is its own transaction, with no BEGIN and
            # ROLLBACK round trips around it.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as pooled:
                yield pooled
            return
        with self.own_lock:
            if self.own is None or self.own.closed:
                self.own = self.engine.connect()
                self.own.detach()  # never handed back to the pool (nor checkpointed after, as its work is reads)
            yield self.own


def _driver_rows(conn: Connection, statement: Executable, page: dict[str, int]) -> list[Any]:
    """The page's rows as the driver gives them, tuples: wrapping a page's 1,000 in
    SQLAlchemy's rows cost the channel ~0.15 ms of CPU a pull, and none of its columns'
    types converts what the driver read (text and whole numbers)."""
    result = conn.execute(statement, page)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()
