"""The customer-return feed Khaos pulls (CReturnDownload).

The feed is every published document in the order it was published (`feed_position`).
The `Sirion-Continuation` value we hand Khaos is the position of the last document in
the batch, so a pull is stable (the same continuation always gives the same slice) and
monotonic, and it lives in the database, so it survives a restart.

Khaos sends a continuation on every pull: a datetime on its first contact (README L230),
ours after that. A call without one is not Khaos's (a person with curl, a health check):
it is a 400 and serves nothing, so it can never mark a document served that Khaos never
saw. What Khaos provably had is what it acknowledged: everything up to the last position
of ours it sent back. A first contact (a new datetime) starts there, so documents a probe
was served are served again; the same datetime again (Khaos lost our answer) starts where
that pull did. A position we never gave out and past what Khaos provably had (a store
restored from a backup, another channel's continuation) is never trusted: the pull is
served from the end of what Khaos provably had, and an `unknown_continuation` exception
says so. Nothing is skipped; at worst Khaos is sent a document it already has, which it
refuses by its AssociatedRef. A value that is neither a position nor a datetime is a 400.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.channel.feed_statements import (
    ANSWERED_WITH,
    FEED_END,
    LOG_PULL,
    NEXT_SERVABLE,
    PAGE,
    SERVED_THROUGH,
    TRY_FEED_LOCK,
    WHERE_WE_ARE,
    WHERE_WE_ARE_MARKED,
)
from target_khaos_control.channel.next_page import NextPage
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_log import ExceptionLog, Subject
from target_khaos_control.exception_routing import Routing
from target_khaos_control.served_marks import settle
from target_khaos_control.states import PUBLISHED, RE_REQUESTED, SERVABLE, may_become
from target_khaos_control.store import (
    PULLS_KEPT,
    chunks,
    document_bodies,
    documents,
    documents_with_bodies,
    exceptions,
    pulls,
)
from target_khaos_control.store_locks import lock_feed

LONGEST_POSITION = 18  # digits: every position fits a 64-bit integer
LONGEST_CONTINUATION = 80  # as the pull log keeps it
UNKNOWN = Kind.UNKNOWN_CONTINUATION
ACKNOWLEDGED_LOOKBACK = 1000  # pulls searched for Khaos's last acknowledgement (the last one, nearly always)
NO_CONTINUATION = (
    "no Sirion-Continuation: Khaos sends one on every pull (a datetime on its first contact), so this "
    "call was served nothing; to check that the channel is up, use /healthz"
)


class ContinuationError(ValueError):
    """A Sirion-Continuation the channel cannot read, or none at all: a 400."""


@dataclass(frozen=True)
class Slice:
    """One batch of the feed: the documents' references and bodies, and the continuation that follows them."""

    refs: list[str]
    # Each a stored CustomerReturn, as JSON: a page's as the store's UTF-8 bytes, SpecificIDs' as text.
    bodies: list[str] | list[bytes]
    continuation: str


def parse_continuation(value: str) -> int | datetime | None:
    """A feed position we issued, a datetime (Khaos's first contact), or None when there is none."""
    value = value.strip().strip('"')
    if not value:
        return None
    shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value)} characters)"
    if value.isascii() and value.isdigit():
        if len(value) > LONGEST_POSITION:
            raise ContinuationError(f"Sirion-Continuation {shown} is longer than any feed position we issue")
        return int(value)
    if len(value) > LONGEST_CONTINUATION or not value.isascii():
        raise ContinuationError(f"Sirion-Continuation {shown} is neither a feed position we issued nor a datetime")
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1))
        # Not times.utc: a date UTC cannot show (the year 10000) is refused here, not kept.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ContinuationError(
            f"Sirion-Continuation {shown} is neither a feed position we issued nor a datetime"
        ) from None


def parse_specific_ids(value: str) -> list[str]:
    """`SpecificIDs: "REF1,REF2"`: the docs quote the list; accept it with or without."""
    return [ref.strip().strip('"') for ref in value.strip().strip('"').split(",") if ref.strip().strip('"')]


def next_batch(
    conn: Connection,
    continuation: str,
    limit: int,
    fmt: str,
    moment: datetime,
    routing: Routing | None = None,
    ahead: NextPage | None = None,
) -> Slice:
    """The next documents after the continuation, logged as served (their marks pending:
    served_marks.py); the batch Khaos is sent (its page as `ahead` read it, when that is
    the same page and the store is unchanged)."""
    position = parse_continuation(continuation)
    if position is None:
        raise ContinuationError(NO_CONTINUATION)
    # What is read under the feed's lock is what is logged served. On Postgres a pull
    # takes it if it is free; while a target's batch holds it, a pull with nothing new
    # to serve answers without waiting (it serves nothing).
    # Tried: psycopg's BEGIN sent with the lock's statement (a pipeline), one round trip
    # less: no gain (0.21 against 0.20 ms for BEGIN, lock, where we are and COMMIT).
    if conn.dialect.name != "postgresql":
        lock_feed(conn)
    elif not conn.execute(TRY_FEED_LOCK).scalar():
        start = _start_of_nothing_new(conn, position, continuation)
        if start is not None:
            batch = Slice([], [], str(start))
            _log_pull(conn, batch, fmt, continuation, specific=False, moment=moment, through=served_through(conn))
            return batch
        lock_feed(conn)
    postgres = conn.dialect.name == "postgresql"
    answer = {"answer": str(position) if isinstance(position, int) else None}
    here = conn.execute(WHERE_WE_ARE_MARKED if postgres else WHERE_WE_ARE, answer).one()
    through = int(here.served_through or 0)
    if isinstance(position, datetime):
        after = first_contact(conn, continuation.strip())
    elif _trusted(conn, position, end=int(here.feed_end or 0), issued=here.issued is not None):
        after = position
    else:
        after = _recover(conn, continuation.strip(), moment, routing)
    rows = _page(conn, after, limit, ahead, here.mark if postgres else None)
    out = str(rows[-1][2]) if rows else str(after)
    batch = Slice([row[0] for row in rows], [row[1] for row in rows], out)
    stretch = (int(rows[0][2]), int(rows[-1][2])) if rows else None
    if stretch is not None and after <= through:  # this pull carried on from the served stretch: it grows
        through = max(through, stretch[1])
    _log_pull(conn, batch, fmt, continuation, specific=False, moment=moment, stretch=stretch, through=through)
    return batch


def _page(conn: Connection, after: int, limit: int, ahead: NextPage | None, mark: object) -> Sequence[Sequence[Any]]:
    """The page after `after`, each as (reference, body, position): as `ahead` read it when
    it can, else read here. `mark` is the store's commit mark read under the lock, when the
    pull has read it (Postgres's, with where we are)."""
    rows = ahead.take(conn, after, limit, mark) if ahead is not None else None
    return conn.execute(PAGE, {"after": after, "limit": limit}).all() if rows is None else rows


def _start_of_nothing_new(conn: Connection, position: int | datetime, continuation: str) -> int | None:
    """Where a pull starts when nothing servable lies past there, read without the feed's
    lock; None when something does, or when the continuation needs recovering (both are
    decided again under the lock). On Postgres the pull log takes no lock: Khaos polling
    an idle feed then answers at once, even while a target's batch holds the feed's lock
    (SQLite has one write lock, which the log's entry needs anyway). Asked only when the
    lock was not free: a pull first tries to take it without waiting."""
    if isinstance(position, datetime):
        start = first_contact(conn, continuation.strip())
    elif _trusted(conn, position):
        start = position
    else:
        return None
    newer = conn.execute(NEXT_SERVABLE, {"start": start}).first()
    return start if newer is None else None


def served_through(conn: Connection) -> int:
    """The feed position up to which every document has been served: pulls that carried
    on from there have served each one after it. A document is only ever published past
    the feed's end, so none at or before this position waits to be served."""
    return int(conn.execute(SERVED_THROUGH).scalar() or 0)


def first_contact(conn: Connection, continuation: str) -> int:
    """Where a pull with a datetime starts. The same value as the last pull's, with
    nothing pulled since, is Khaos pulling again after losing our answer: it starts where
    that pull did. Otherwise: at the end of what Khaos provably had, so whatever anyone
    else was served before (a probe, a pull whose answer was lost) is served again."""
    last = conn.execute(
        sa.select(pulls.c.continuation_in, pulls.c.first_position)
        .where(pulls.c.specific_ids.is_(False))
        .order_by(pulls.c.id.desc())
        .limit(1)
    ).first()
    again = last is not None and continuation and last.continuation_in == continuation[:LONGEST_CONTINUATION]
    if again and last is not None and last.first_position is not None:
        return int(last.first_position) - 1
    return provable_end(conn)


def provable_end(conn: Connection) -> int:
    """The last feed position of ours Khaos sent back as its continuation: it had every
    document up to there. 0 when it never sent one back (nothing is proven)."""
    recent = conn.execute(
        sa.select(pulls.c.continuation_in)
        .where(pulls.c.specific_ids.is_(False))
        .order_by(pulls.c.id.desc())
        .limit(ACKNOWLEDGED_LOOKBACK)
    ).scalars()
    for value in recent:
        position = _position(value)
        if position is not None and _issued(conn, position):
            return position
    return 0


def feed_end(conn: Connection) -> int:
    """The last feed position given out, as far as this store knows."""
    return int(conn.execute(FEED_END).scalar_one_or_none() or 0)


def _trusted(conn: Connection, position: int, *, end: int | None = None, issued: bool | None = None) -> bool:
    """A position we gave out (and that the store still has), or one at or before what
    Khaos provably had: carrying on from it skips nothing. A pull passes the feed's end
    and whether a pull answered `position` as it read them under the lock."""
    if position <= (feed_end(conn) if end is None else end) and (_issued(conn, position) if issued is None else issued):
        return True
    return position <= provable_end(conn)


def _issued(conn: Connection, position: int) -> bool:
    """Whether a pull answered with this position (a SpecificIDs retry's only when it was sent none)."""
    return conn.execute(ANSWERED_WITH, {"answer": str(position)}).first() is not None


def _position(value: str) -> int | None:
    value = value.strip().strip('"')
    return int(value) if value.isascii() and value.isdigit() and len(value) <= LONGEST_POSITION else None


def _recover(conn: Connection, continuation: str, moment: datetime, routing: Routing | None) -> int:
    """A continuation we never gave out, past what Khaos provably had: serve from there
    and open an exception for the integration team."""
    start, end = provable_end(conn), feed_end(conn)
    subject = Subject("feed", continuation[:LONGEST_CONTINUATION])
    key = subject.trace_key(UNKNOWN)
    query = sa.select(exceptions.c.trace_key, exceptions.c.status).where(exceptions.c.trace_key == key)
    known: dict[str, str] = {row.trace_key: row.status for row in conn.execute(query)}
    log = ExceptionLog(known, moment, routing)
    log.raise_exception(
        UNKNOWN,
        subject,
        f"Khaos pulled with Sirion-Continuation {continuation[:LONGEST_CONTINUATION]!r}, a feed position this "
        f"channel never gave out (the feed ends at {end}); served from {start}, the end of what Khaos is "
        "known to have had, so nothing is skipped",
        {"continuation": continuation[:LONGEST_CONTINUATION], "feed_end": end, "served_from": start},
    )
    log.write(conn)
    return start


def resume_point(conn: Connection, through: int) -> int:
    """Just before the first document never served; the feed's end when all were. The
    walk starts past the served stretch (`served_through`), on the feed's index, so it
    costs the same whatever the feed holds."""
    unserved = conn.execute(
        sa.select(sa.func.min(documents.c.feed_position)).where(
            documents.c.feed_position > through, documents.c.state == PUBLISHED
        )
    ).scalar_one_or_none()
    if unserved is not None:
        return int(unserved) - 1
    return int(conn.execute(sa.select(sa.func.max(documents.c.feed_position))).scalar_one_or_none() or 0)


def specific_batch(conn: Connection, refs: list[str], continuation: str, fmt: str, moment: datetime) -> Slice:
    """Exactly the named references (a Khaos user retrying failed imports). The
    continuation is handed back unchanged: a retry is not progress through the feed.
    Without one, the answer names where the feed resumes, never an empty value that
    would start Khaos's next pull over."""
    lock_feed(conn)
    settle(conn)  # a document a pull served is re-requested after that pull's marks, never before
    rows: dict[str, str] = {}
    for chunk in chunks(refs):  # a 64 KiB header names thousands: never one huge IN (...)
        query = (
            sa.select(documents.c.associated_ref, document_bodies.c.body)
            .select_from(documents_with_bodies)
            .where(documents.c.associated_ref.in_(chunk), documents.c.state.in_(SERVABLE))
        )
        rows.update({row.associated_ref: row.body for row in conn.execute(query)})
    found = [ref for ref in refs if ref in rows]
    given = continuation.strip()
    if given:
        parse_continuation(given)  # a 400 for a value we could not take on the next pull either
    through = served_through(conn)
    batch = Slice(found, [rows[ref] for ref in found], given or str(resume_point(conn, through)))
    _mark_re_requested(conn, found, moment)
    _log_pull(conn, batch, fmt, continuation, specific=True, moment=moment, through=through)
    return batch


def _mark_re_requested(conn: Connection, refs: list[str], moment: datetime) -> None:
    table = documents.c
    for chunk in chunks(refs):
        conn.execute(
            documents.update()
            .where(table.associated_ref.in_(chunk))
            .values(last_served_at=moment, first_served_at=sa.func.coalesce(table.first_served_at, moment))
        )
        # Only along the states' rules: a document re-requested before keeps when it was.
        conn.execute(
            documents.update()
            .where(table.associated_ref.in_(chunk), table.state.in_(may_become(RE_REQUESTED) - {RE_REQUESTED}))
            .values(state=RE_REQUESTED.value, state_changed_at=moment)
        )


def _log_pull(
    conn: Connection,
    batch: Slice,
    fmt: str,
    continuation: str,
    *,
    specific: bool,
    moment: datetime,
    stretch: tuple[int, int] | None = None,
    through: int,
) -> None:
    """What Khaos asked and was served, its stretch's marks pending (served_marks.py); the
    log keeps the last PULLS_KEPT pulls, and never drops one whose marks are pending."""
    result = conn.execute(
        LOG_PULL,
        {
            "at": moment,
            "format": fmt,
            "specific_ids": specific,
            "continuation_in": continuation[:80],
            "continuation_out": batch.continuation[:80],
            "refs": json.dumps(batch.refs if specific else []),
            "count": len(batch.refs),
            "first_position": stretch[0] if stretch else None,
            "last_position": stretch[1] if stretch else None,
            "served_through": through,
            "marks_pending": stretch is not None,
        },
    )
    key = result.inserted_primary_key
    if key is not None and key[0] > PULLS_KEPT:
        conn.execute(pulls.delete().where(pulls.c.id <= key[0] - PULLS_KEPT, pulls.c.marks_pending.is_(False)))
