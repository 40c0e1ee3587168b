"""The customer-return feed Khaos pulls (CReturnDownload).

The feed is every published document in the order it was published (`feed_position`).
The `Sirion-Continuation` value we hand Khaos is the position of the last document in
the batch, so a pull is stable (the same continuation always gives the same slice) and
monotonic, and it lives in the database, so it survives a restart. On first contact
Khaos sends a datetime instead: we serve what was published from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import documents, lock_feed, pulls

SERVABLE = ("published", "served", "re_requested")


class ContinuationError(ValueError):
    pass


@dataclass(frozen=True)
class Batch:
    refs: list[str]
    bodies: list[str]  # each a stored CustomerReturn, as JSON text
    continuation: str


def parse_continuation(value: str) -> int | datetime | None:
    value = value.strip().strip('"')
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise ContinuationError(
            f"Sirion-Continuation {value!r} is neither a feed position we issued nor a datetime"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_specific_ids(value: str) -> list[str]:
    """`SpecificIDs: "REF1,REF2"`: the docs quote the list; accept it with or without."""
    return [ref.strip().strip('"') for ref in value.strip().strip('"').split(",") if ref.strip().strip('"')]


def next_batch(conn: Connection, continuation: str, limit: int, fmt: str, moment: datetime) -> Batch:
    position = parse_continuation(continuation)
    lock_feed(conn)  # what is read here is what gets marked served
    query = (
        sa.select(documents.c.associated_ref, documents.c.body, documents.c.feed_position)
        .where(documents.c.state.in_(SERVABLE))
        .order_by(documents.c.feed_position)
        .limit(limit)
    )
    if isinstance(position, int):
        query = query.where(documents.c.feed_position > position)
    elif isinstance(position, datetime):
        query = query.where(documents.c.published_at >= position, documents.c.feed_position.is_not(None))
    else:
        query = query.where(documents.c.feed_position.is_not(None))
    rows = conn.execute(query).all()
    out = str(rows[-1].feed_position) if rows else (continuation.strip() or "0")
    batch = Batch([row.associated_ref for row in rows], [row.body for row in rows], out)
    _mark(conn, batch.refs, "served", moment)
    _log_pull(conn, batch, fmt, continuation, specific=False, moment=moment)
    return batch


def specific_batch(conn: Connection, refs: list[str], continuation: str, fmt: str, moment: datetime) -> Batch:
    """Exactly the named references (a Khaos user retrying failed imports). The
    continuation is handed back unchanged: a retry is not progress through the feed."""
    lock_feed(conn)
    rows = {
        row.associated_ref: row.body
        for row in conn.execute(
            sa.select(documents.c.associated_ref, documents.c.body).where(
                documents.c.associated_ref.in_(refs), documents.c.state.in_(SERVABLE)
            )
        )
    }
    found = [ref for ref in refs if ref in rows]
    batch = Batch(found, [rows[ref] for ref in found], continuation.strip())
    _mark(conn, found, "re_requested", moment)
    _log_pull(conn, batch, fmt, continuation, specific=True, moment=moment)
    return batch


def _mark(conn: Connection, refs: list[str], state: str, moment: datetime) -> None:
    if not refs:
        return
    table = documents.c
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        conn.execute(
            documents.update()
            .where(table.associated_ref.in_(chunk))
            .values(last_served_at=moment, first_served_at=sa.func.coalesce(table.first_served_at, moment))
        )
        # A re-request is Khaos saying its import failed; a plain pull of a re-requested
        # document leaves that mark in place.
        promote = table.state == "published" if state == "served" else table.state.in_(SERVABLE)
        conn.execute(
            documents.update()
            .where(table.associated_ref.in_(chunk), promote)
            .values(state=state, state_changed_at=moment)
        )


def _log_pull(conn: Connection, batch: Batch, fmt: str, continuation: str, *, specific: bool, moment: datetime) -> None:
    conn.execute(
        pulls.insert().values(
            at=moment,
            format=fmt,
            specific_ids=specific,
            continuation_in=continuation[:80],
            continuation_out=batch.continuation[:80],
            refs=json.dumps(batch.refs),
            count=len(batch.refs),
        )
    )
