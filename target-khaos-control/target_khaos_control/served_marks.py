"""Khaos's pulls marked on their documents after Khaos has its answer, not before.

A pull logs what it served, its stretch of the feed and when (`pulls.first_position`,
`last_position`, `at`), and commits that before Khaos gets its answer: the log entry is
what says those documents were served, and it survives a crash. Marking each of the
stretch's thousand documents served (state, first and last served times) is work the
answer need not wait for; it was the largest part of a pull's time on Postgres (issue 22).
So the entry is logged with `marks_pending`, and `settle` writes its marks later, pull by
pull in the order Khaos pulled, exactly as the pull would have written them:

- under the feed's lock, first, by everything that decides on a document's state (the
  target's batches, a SpecificIDs re-request), so no decision is ever made on marks not
  yet written;
- first, by everything that reads documents' states or served times (the dashboard,
  `/metrics`, the reconciliation and month-end close): `settled_first`;
- by the channel once Khaos has stopped pulling for a moment (channel/marks_settler.py),
  so in a drain the marks wait until the drain ends.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_khaos_control.states import SERVABLE, SERVED, may_become
from target_khaos_control.store import MARKS_PENDING, documents, pulls
from target_khaos_control.store_locks import lock_feed

# One pull's stretch marked served at its time: a re-requested document keeps that state
# (Khaos said its import failed); a published one becomes served, along the states' rules.
_MOMENT = sa.bindparam("moment", type_=documents.c.last_served_at.type)
_NEWLY = documents.c.state.in_(may_become(SERVED) - {SERVED})  # published
MARK_SERVED = (
    documents.update()
    .where(
        documents.c.feed_position.between(sa.bindparam("first"), sa.bindparam("last")),  # on the feed's index
        documents.c.state.in_(SERVABLE),
    )
    .values(
        last_served_at=_MOMENT,
        first_served_at=sa.func.coalesce(documents.c.first_served_at, _MOMENT),
        state=sa.case((_NEWLY, SERVED.value), else_=documents.c.state),
        state_changed_at=sa.case((_NEWLY, _MOMENT), else_=documents.c.state_changed_at),
    )
)
PENDING = (
    sa.select(pulls.c.id, pulls.c.first_position, pulls.c.last_position, pulls.c.at)
    .where(MARKS_PENDING)
    .order_by(pulls.c.id)  # in the order Khaos pulled: the last pull's time is each document's last served
)
PULLS_AT_ONCE = 4  # a transaction's pulls: ~10 ms of marking on Postgres, which a pull arriving then waits for
ANY_PENDING = sa.select(pulls.c.id).where(MARKS_PENDING).limit(1)
_SETTLED = pulls.update().where(pulls.c.id == sa.bindparam("pull")).values(marks_pending=False)


def settle(conn: Connection, most: int | None = None) -> int:
    """Under the feed's lock, mark served the documents of the pulls whose marks are
    pending (the first `most` of them, when given); how many pulls were settled."""
    lock_feed(conn)
    pending = conn.execute(PENDING if most is None else PENDING.limit(most)).all()
    for pull in pending:
        conn.execute(MARK_SERVED, {"first": pull.first_position, "last": pull.last_position, "moment": pull.at})
    if pending:
        conn.execute(_SETTLED, [{"pull": pull.id} for pull in pending])
    return len(pending)


def pending(conn: Connection) -> bool:
    """Whether any pull's marks are pending (read without the lock)."""
    return conn.execute(ANY_PENDING).first() is not None


def settled_first(engine: Engine) -> None:
    """Before reading documents' states or served times: write the marks still pending,
    committed, a few pulls a transaction, so Khaos's pulls go on between them (nothing to
    do, and no lock taken, when none is pending)."""
    with engine.connect() as conn:
        if not pending(conn):
            return
    while True:
        with engine.begin() as conn:
            if settle(conn, PULLS_AT_ONCE) < PULLS_AT_ONCE:
                return
