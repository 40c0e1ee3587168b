"""The statements of a pull, built once: SQLAlchemy then only looks up their compiled
form, where building one costs more than SQLite takes to run it. Each finds its rows on
an index: the page a range scan of the feed's (`feed_position`), the pull log by its id."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from target_khaos_control.states import SERVABLE
from target_khaos_control.store import document_bodies, documents, documents_with_bodies, pulls
from target_khaos_control.store_locks import FEED_LOCK

# The page size is written into the statement: Postgres's generic plan for a prepared
# statement (psycopg prepares one run five times) then knows a page is small and keeps to
# the indexes; with an unknown LIMIT it hashed whole tables, at twice the CPU.
_LIMIT = sa.bindparam("limit", type_=sa.Integer, literal_execute=True)
_AFTER = sa.bindparam("after", type_=documents.c.feed_position.type)


class _StoredBody(FunctionElement[Any]):
    """A document's body as the JSON answer sends it: its UTF-8 bytes as the store keeps
    them, joined into the answer as bytes with no encoding of the page's text (a copy for
    ASCII, a transcoding for the rest: more than half the bodies carry names past ASCII).
    SQLite: CAST AS BLOB. Postgres: convert_to (never a cast to bytea, which reads
    backslashes as escapes), read in psycopg's binary format (`binary_results`): in its
    text format bytea comes hex-encoded, slower than the text (a page fetched 3.8 against
    2.9 ms; binary 1.7). Any other store: the text."""

    name = "stored_body"
    inherit_cache = True


@compiles(_StoredBody)
def _as_text(element: _StoredBody, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_StoredBody, "sqlite")
def _as_utf8_blob(element: _StoredBody, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS BLOB)"


@compiles(_StoredBody, "postgresql")
def _as_utf8_bytea(element: _StoredBody, compiler: SQLCompiler, **kw: Any) -> str:
    return f"convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')"


PAGE = (
    sa.select(documents.c.associated_ref, _StoredBody(document_bodies.c.body).label("body"), documents.c.feed_position)
    .select_from(documents_with_bodies)
    .where(documents.c.state.in_(SERVABLE), documents.c.feed_position > _AFTER)
    .order_by(documents.c.feed_position)  # on the feed's index: a range scan from `after`
    .limit(_LIMIT)
    .execution_options(binary_results=True)  # Postgres: the bodies' bytes as they are (store.py)
)
# Tried: the bodies by a hash join over the page's range of document ids, not one index
# probe each: no gain once the pages are cached (1.80 against 1.87 ms a page at 200k).
SERVED_THROUGH = sa.select(pulls.c.served_through).order_by(pulls.c.id.desc()).limit(1)
FEED_END = sa.select(sa.func.max(documents.c.feed_position))
ANSWERED_WITH = (
    sa.select(pulls.c.id)
    .where(
        pulls.c.continuation_out == sa.bindparam("answer", type_=pulls.c.continuation_out.type),
        # A SpecificIDs retry hands back the continuation it was sent: only its answer to none counts.
        sa.or_(pulls.c.specific_ids.is_(False), pulls.c.continuation_in == ""),
    )
    .order_by(pulls.c.id.desc())  # the latest first: Khaos's continuation is nearly always the last one we gave
    .limit(1)
)
# What a pull needs to know of the feed under its lock, in one statement (one round trip).
WHERE_WE_ARE = sa.select(
    FEED_END.scalar_subquery().label("feed_end"),
    SERVED_THROUGH.scalar_subquery().label("served_through"),
    ANSWERED_WITH.scalar_subquery().label("issued"),
)
# Postgres: the feed's lock (store_locks.lock_feed's) taken if it is free, never waited for; true when taken.
TRY_FEED_LOCK = sa.select(sa.func.pg_try_advisory_xact_lock(sa.literal(FEED_LOCK, sa.BigInteger)))
NEXT_SERVABLE = (
    sa.select(documents.c.feed_position)
    .where(documents.c.state.in_(SERVABLE), documents.c.feed_position > sa.bindparam("start"))
    .order_by(documents.c.feed_position)  # on the feed's index, never a scan from the table's start
    .limit(1)
)
LOG_PULL = pulls.insert()
# Postgres: the store's commit mark (next_page.py's), the snapshot the statement reads in.
_SNAPSHOT = sa.cast(sa.func.pg_current_snapshot(), sa.Text)
# Where we are, with the mark read under the lock in the same round trip.
WHERE_WE_ARE_MARKED = WHERE_WE_ARE.add_columns(_SNAPSHOT.label("mark"))
# A page read ahead, each row with the snapshot it was read in (a subquery: worked out once).
PAGE_WITH_MARK = PAGE.add_columns(sa.select(_SNAPSHOT).scalar_subquery().label("mark"))
