"""The customer-return feed Khaos pulls (CReturnDownload).

The feed is every published document in the order it was published (`feed_position`).
The `Sirion-Continuation` value we hand Khaos is the position of the last document in
the batch, so a pull is stable (the same continuation always gives the same slice) and
monotonic, and it lives in the database, so it survives a restart.

On first contact Khaos sends a datetime (README L230), whenever the channel was linked:
it cannot know what we have. The feed then starts at the first document never served,
so nothing published before the link is lost; the first datetime pull that served
anything is remembered, and the same datetime again (Khaos lost our answer) starts at
the same place. A value that is neither a position nor a datetime is a 400 naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.states import PUBLISHED, RE_REQUESTED, SERVABLE, SERVED, may_become
from target_khaos_control.store import PULLS_KEPT, chunks, documents, lock_feed, pulls

LONGEST_POSITION = 18  # digits: every position fits a 64-bit integer
LONGEST_CONTINUATION = 80  # as the pull log keeps it


class ContinuationError(ValueError):
    pass


@dataclass(frozen=True)
class Slice:
    refs: list[str]
    bodies: list[str]  # each a stored CustomerReturn, as JSON text
    continuation: str


def parse_continuation(value: str) -> int | datetime | None:
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
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ContinuationError(
            f"Sirion-Continuation {shown} is neither a feed position we issued nor a datetime"
        ) from None


def parse_specific_ids(value: str) -> list[str]:
    """`SpecificIDs: "REF1,REF2"`: the docs quote the list; accept it with or without."""
    return [ref.strip().strip('"') for ref in value.strip().strip('"').split(",") if ref.strip().strip('"')]


def next_batch(conn: Connection, continuation: str, limit: int, fmt: str, moment: datetime) -> Slice:
    position = parse_continuation(continuation)
    lock_feed(conn)  # what is read here is what gets marked served
    through = served_through(conn)
    after = position if isinstance(position, int) else first_contact(conn, continuation.strip(), through)
    query = (
        sa.select(documents.c.associated_ref, documents.c.body, documents.c.feed_position)
        .where(documents.c.state.in_(SERVABLE), documents.c.feed_position > after)
        .order_by(documents.c.feed_position)
        .limit(limit)
    )
    rows = conn.execute(query).all()
    out = str(rows[-1].feed_position) if rows else str(after)
    batch = Slice([row.associated_ref for row in rows], [row.body for row in rows], out)
    stretch = (int(rows[0].feed_position), int(rows[-1].feed_position)) if rows else None
    if stretch is not None:
        _mark_served(conn, *stretch, moment)
        if after <= through:  # this pull carried on from the served stretch: it grows
            through = max(through, stretch[1])
    _log_pull(conn, batch, fmt, continuation, specific=False, moment=moment, stretch=stretch, through=through)
    return batch


def served_through(conn: Connection) -> int:
    """The feed position up to which every document has been served: pulls that carried
    on from there have served each one after it. A document is only ever published past
    the feed's end, so none at or before this position waits to be served."""
    through = conn.execute(sa.select(pulls.c.served_through).order_by(pulls.c.id.desc()).limit(1)).scalar()
    return int(through or 0)


def first_contact(conn: Connection, continuation: str, through: int) -> int:
    """Where a pull without a feed position of ours starts. The same value as the last
    pull's, with nothing pulled since, is Khaos pulling again after losing our answer:
    it starts where that pull did. Otherwise: just before the first document never
    served, so a channel linked late loses nothing and re-linking repeats nothing."""
    last = conn.execute(
        sa.select(pulls.c.continuation_in, pulls.c.first_position)
        .where(pulls.c.specific_ids.is_(False))
        .order_by(pulls.c.id.desc())
        .limit(1)
    ).first()
    again = last is not None and continuation and last.continuation_in == continuation[:LONGEST_CONTINUATION]
    if again and last is not None and last.first_position is not None:
        return int(last.first_position) - 1
    return resume_point(conn, through)


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
    rows: dict[str, str] = {}
    for chunk in chunks(refs):  # a 64 KiB header names thousands: never one huge IN (...)
        query = sa.select(documents.c.associated_ref, documents.c.body).where(
            documents.c.associated_ref.in_(chunk), documents.c.state.in_(SERVABLE)
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


def _mark_served(conn: Connection, first: int, last: int, moment: datetime) -> None:
    """One pull is one stretch of the feed, read under the feed's lock: one UPDATE by
    position marks it. A re-requested document keeps that mark (Khaos said its import
    failed); the rest become served."""
    table = documents.c
    newly = table.state.in_(may_become(SERVED) - {SERVED})  # along the states' rules: published
    conn.execute(
        documents.update()
        .where(table.feed_position.between(first, last), table.state.in_(SERVABLE))
        .values(
            last_served_at=moment,
            first_served_at=sa.func.coalesce(table.first_served_at, moment),
            state=sa.case((newly, SERVED.value), else_=table.state),
            state_changed_at=sa.case((newly, moment), else_=table.state_changed_at),
        )
    )


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
    """What Khaos asked and was served; the log keeps the last PULLS_KEPT pulls."""
    logged = conn.execute(
        pulls.insert().values(
            at=moment,
            format=fmt,
            specific_ids=specific,
            continuation_in=continuation[:80],
            continuation_out=batch.continuation[:80],
            refs=json.dumps(batch.refs if specific else []),
            count=len(batch.refs),
            first_position=stretch[0] if stretch else None,
            last_position=stretch[1] if stretch else None,
            served_through=through,
        )
    ).inserted_primary_key
    if logged is not None and logged[0] > PULLS_KEPT:
        conn.execute(pulls.delete().where(pulls.c.id <= logged[0] - PULLS_KEPT))
