"""The durable store shared by the target and the channel: SQLAlchemy Core, a SQLite file
by default, Postgres by URL. Its schema is versioned by Alembic (`migrations/`); opening
a store brings it up to date first.

What it keeps:
- `reveni_returns`: the latest version of each Reveni return (its `updated_at`, a
  content hash, which of its `return_versions` it is: the record is kept there, once).
- `return_versions`: every version of each return, when the store received it.
- `documents`: the Khaos `CustomerReturn` documents made from them, each with its
  `AssociatedRef`, its state (held, published, served, re_requested, superseded) and
  its place in the feed Khaos pulls; `document_bodies`: each one's body, as Khaos gets it.
- `pulls`: the last PULLS_KEPT pulls Khaos made, under which continuation, and what each
  was served: a stretch of the feed (first and last position) for a pull, the references
  for a re-request (SpecificIDs). What each document went through is on the document,
  marked there after Khaos's answer (`served_marks.py`).
- `stock_items`, `stock_codes`, `stock_levels`, `order_statuses`: what Khaos pushed;
  `catalogue_version` counts the pushes that changed the stock catalogue.
- `exceptions`: what the integration could not carry through, for its owner, and what
  was alerted about it; `alert_incidents`: each owner's alert, standing or resolved.
- `exception_actions`: who assigned or resolved an exception on the dashboard, when, why.
- `runs`: each sync, replay and reconciliation, with its counts.
- `credit_notes`: the credit notes the last reconciliations read from Khaos's export.
- `proposal_decisions`: fixes the integration proposed that an operator accepted or
  rejected, by whom and when (`proposals/`).
- `store_owner`: the one client whose returns this store holds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import ExecutionContext

from target_khaos_control.khaos_documents import CODE, KHAOS_ID, ORDER_REF, SITE_ID
from target_khaos_control.new_sqlite_store import made_new
from target_khaos_control.schema_version import latest_revisions, stored_revisions
from target_khaos_control.store_locks import BUSY_MS, MIGRATION_LOCK, hold

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

T = TypeVar("T")
metadata = sa.MetaData()
Moment = sa.DateTime(timezone=True)


class FreeText(sa.types.TypeDecorator[str]):
    """Text that came from outside (Reveni, Khaos): any length, and a NUL character,
    which Postgres refuses in text and which would fail a whole batch, kept as U+FFFD."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        """The text as stored: a NUL character becomes U+FFFD."""
        return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


reveni_returns = sa.Table(
    "reveni_returns",
    metadata,
    # Ids and timestamps are Reveni's: text of any length, so no value it sends can
    # fail a whole batch (the rules judge the values; the store keeps them).
    sa.Column("return_id", FreeText, primary_key=True),
    sa.Column("updated_at", FreeText, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("first_seen", Moment, nullable=False),
    sa.Column("last_changed", Moment, nullable=False),
    sa.Column("ruleset_hash", sa.String(64), nullable=False, default=""),
    sa.Column("status", FreeText, nullable=False, default=""),  # the stored version's Reveni status
    # The stored version's row in `return_versions`, which holds its record: the record is
    # kept once, not copied here too (migration 0020). Read it through `returns_with_records`.
    sa.Column(
        "version_id", sa.Integer, sa.ForeignKey("return_versions.id", name="fk_reveni_returns_version"), nullable=False
    ),
)

# Every version of each return as it arrived (`seen_at`: when the store received it): the
# month-end close reads the version the store held at the period's end. No index on
# `return_id`: the close reads the whole table, and an index on Reveni's random ids would
# cost each batch a page per version in a grown store (migration 0018).
return_versions = sa.Table(
    "return_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("return_id", FreeText, nullable=False),
    sa.Column("seen_at", Moment, nullable=False),
    sa.Column("record", FreeText, nullable=False),
)
# Each stored return with its record (`return_versions.c.record`): what a reader of the record selects from.
returns_with_records = reveni_returns.join(return_versions, return_versions.c.id == reveni_returns.c.version_id)

documents = sa.Table(
    "documents",
    metadata,
    # Its row number, given in order (next_ids): what its body is keyed by (migration 0022).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("associated_ref", FreeText, nullable=False, unique=True),
    sa.Column("return_id", FreeText, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("item_ids", FreeText, nullable=False),
    sa.Column("hold_reason", FreeText, nullable=False, default=""),
    sa.Column("source_updated_at", FreeText, nullable=False),
    sa.Column("feed_position", sa.BigInteger, nullable=True, unique=True),
    sa.Column("created_at", Moment, nullable=False),
    sa.Column("state_changed_at", Moment, nullable=False),
    sa.Column("published_at", Moment, nullable=True),
    sa.Column("first_served_at", Moment, nullable=True),
    sa.Column("last_served_at", Moment, nullable=True),
    sa.Column("ruleset_hash", sa.String(64), nullable=False, default=""),
    sa.Column("currency", sa.String(3), nullable=False, default="", server_default=""),
)
# A return's documents: its first by its reference, `RV-<id>`, the follow-ups by this index
# of them alone (documents_of.py): one of every document's random return ids cost
# each new document a page in a grown store (migration 0021).
FOLLOW_UP = documents.c.sequence > 1
# Partial on Postgres too, but said so only when a Postgres store is opened (open_store):
# naming `postgresql_where` here makes SQLAlchemy import its whole Postgres dialect at each
# SQLite start, about 18 ms (issue 22).
FOLLOW_UPS = sa.Index("ix_documents_follow_ups", documents.c.return_id, sqlite_where=FOLLOW_UP)
# On Postgres the table is filled to 45% (migrations 0008, 0019), and no index reads `state`
# or the times a pull sets: marking a pull served is then a heap-only update, no index touched.

# Each document's body, the Khaos `CustomerReturn` as sent, with what its lines credit:
# apart from `documents`, so a pull marking its documents served rewrites only their small
# rows (migrations 0016, 0019). A body is written with its document, in the same
# transaction; only the target changes it. Keyed by its document's id, given in order: a new
# body is appended, where its random `RV-<id>` wrote a page of an index each (migration 0022).
document_bodies = sa.Table(
    "document_bodies",
    metadata,
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True, autoincrement=False),
    sa.Column("body", FreeText, nullable=False),
    # What each Reveni item in it credits and how ({item id: {credit, disposition, reason}}):
    # once Khaos holds the document, later versions of the return are judged against this.
    sa.Column("lines", FreeText, nullable=False, server_default="{}"),
)
# Each document with its body: what a reader of the body selects from.
documents_with_bodies = documents.join(document_bodies, document_bodies.c.document_id == documents.c.id)

pulls = sa.Table(
    "pulls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Moment, nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("specific_ids", sa.Boolean, nullable=False),
    sa.Column("continuation_in", sa.String(80), nullable=False),
    sa.Column("continuation_out", sa.String(80), nullable=False),
    sa.Column("refs", FreeText, nullable=False),  # a re-request's references; `[]` for a pull
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_position", sa.BigInteger, nullable=True),  # what a pull served, when it served any
    sa.Column("last_position", sa.BigInteger, nullable=True),
    # Every document up to this feed position had been served after this pull (feed.served_through).
    sa.Column("served_through", sa.BigInteger, nullable=False, server_default="0"),
    # Its stretch's documents not yet marked served (served_marks.py): the pull is logged, and
    # committed, before Khaos gets its answer; the marks are written after (migration 0023).
    sa.Column("marks_pending", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
)
# The pulls whose marks are pending: the few since the channel was last idle.
MARKS_PENDING = pulls.c.marks_pending.is_(True)
PENDING_PULLS = sa.Index("ix_pulls_marks_pending", pulls.c.id, sqlite_where=MARKS_PENDING)
PULLS_KEPT = 100_000  # about a year of pulls every five minutes; older ones are pruned

stock_items = sa.Table(
    "stock_items",
    metadata,
    sa.Column("stock_id", sa.String(KHAOS_ID), primary_key=True),
    sa.Column("stock_code", sa.String(CODE), nullable=False, index=True),
    sa.Column("other_ref", sa.String(CODE), nullable=False, default=""),
    sa.Column("barcodes", FreeText, nullable=False, default="[]"),
    sa.Column("tax_rate", FreeText, nullable=False, default="{}"),
    sa.Column("discontinued", sa.Boolean, nullable=False, default=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("payload", FreeText, nullable=False),
    sa.Column("updated_at", Moment, nullable=False),
)

# One row: how many times Khaos's stock pushes have changed `stock_items` or `stock_codes`.
# The target reads the catalogue again only when this has moved (rules.catalogue).
catalogue_version = sa.Table(
    "catalogue_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

stock_codes = sa.Table(
    "stock_codes",
    metadata,
    sa.Column("stock_id", sa.String(KHAOS_ID), primary_key=True),
    sa.Column("stock_code", sa.String(CODE), primary_key=True),
    sa.Column("first_seen", Moment, nullable=False),
)

stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("stock_id", sa.String(KHAOS_ID), primary_key=True),
    sa.Column("site_id", sa.String(SITE_ID), primary_key=True),
    sa.Column("stock_code", sa.String(CODE), nullable=False),
    sa.Column("available", sa.Numeric(18, 4), nullable=False),
    sa.Column("on_order", sa.Numeric(18, 4), nullable=False),
    sa.Column("updated_at", Moment, nullable=False),
)

order_statuses = sa.Table(
    "order_statuses",
    metadata,
    sa.Column("order_id", sa.String(KHAOS_ID), primary_key=True),
    sa.Column("order_code", sa.String(ORDER_REF), nullable=False, default=""),
    sa.Column("associated_ref", FreeText, nullable=False, default="", index=True),  # what Khaos holds (khaos_position)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payload", FreeText, nullable=False),
    sa.Column("updated_at", Moment, nullable=False),
)

exceptions = sa.Table(
    "exceptions",
    metadata,
    sa.Column("trace_key", FreeText, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("owner", sa.String(20), nullable=False),
    sa.Column("return_id", FreeText, nullable=False, index=True),
    sa.Column("item_id", FreeText, nullable=False, default=""),
    sa.Column("message", FreeText, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("first_seen", Moment, nullable=False),
    sa.Column("last_seen", Moment, nullable=False, index=True),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("severity", sa.String(8), nullable=False, default="high"),
    sa.Column("details", FreeText, nullable=False, default="{}"),
    sa.Column("ruleset_hash", sa.String(64), nullable=False, default=""),
    sa.Column("alerted_status", sa.String(12), nullable=False, default=""),
    sa.Column("alerted_severity", sa.String(8), nullable=False, default=""),
    sa.Column("alerted_at", Moment, nullable=True),
    sa.Column("assigned_to", FreeText, nullable=False, default="", server_default=""),  # a person, from the dashboard
)

# The dashboard's audit trail: every assignment and resolution, never changed or deleted.
exception_actions = sa.Table(
    "exception_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("trace_key", FreeText, nullable=False, index=True),
    sa.Column("action", sa.String(12), nullable=False),  # assign | resolve
    sa.Column("login", FreeText, nullable=False),  # the dashboard login that acted
    sa.Column("person", FreeText, nullable=False),  # the name the person gave
    sa.Column("at", Moment, nullable=False),
    sa.Column("assigned_to", FreeText, nullable=False, default="", server_default=""),
    sa.Column("note", FreeText, nullable=False, default="", server_default=""),
)

# Per owner: whether an alert is standing (`triggered`) or was resolved once its count fell to 0.
alert_incidents = sa.Table(
    "alert_incidents",
    metadata,
    sa.Column("owner", sa.String(20), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("changed_at", Moment, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("started_at", Moment, nullable=False),
    sa.Column("finished_at", Moment, nullable=True),
    sa.Column("counts", FreeText, nullable=False, default="{}"),
)

credit_notes = sa.Table(
    "credit_notes",
    metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("associated_ref", FreeText, nullable=False, index=True),
    sa.Column("gross", sa.Numeric(18, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("date", sa.String(40), nullable=False),
    sa.Column("seen_at", Moment, nullable=False),
    sa.Column("net", sa.Numeric(18, 2), nullable=True),
    sa.Column("tax", sa.Numeric(18, 2), nullable=True),
)

proposal_decisions = sa.Table(
    "proposal_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("proposal_id", sa.String(16), nullable=False, index=True),
    sa.Column("client", FreeText, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", FreeText, nullable=False),  # the Reveni reason code, SKU, rate or email
    sa.Column("path", FreeText, nullable=False),  # where in rules.yml, e.g. `skus.aliases.TEE-BLK-M`
    sa.Column("value", FreeText, nullable=False),  # the value written there, as JSON
    sa.Column("meaning", FreeText, nullable=False, default=""),  # e.g. the Khaos reason's name and processing
    sa.Column("decision", sa.String(10), nullable=False),  # accepted | rejected
    sa.Column("decided_by", FreeText, nullable=False),
    sa.Column("decided_at", Moment, nullable=False),
)

# One row: the client this store belongs to (client_store.claim_store).
store_owner = sa.Table(
    "store_owner",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("client", sa.String(100), nullable=False),
    sa.Column("claimed_at", Moment, nullable=False),
)

MIGRATIONS = Path(__file__).parent / "migrations"


def now() -> datetime:
    """The current moment, in UTC."""
    return datetime.now(UTC)


def _binary_results(cursor: Any, statement: str, parameters: object, context: ExecutionContext) -> bool | None:
    """Postgres: a statement with the execution option `binary_results` has its results
    in psycopg's binary format (bytea as its bytes, not hex-encoded); any other as ever."""
    if context.execution_options.get("binary_results"):
        cursor.execute(statement, parameters, binary=True)
        return True
    return None


def open_store(database_url: str) -> Engine:
    """Connect, create the SQLite file's folder if needed, and migrate to the latest schema."""
    if not isinstance(database_url, str):  # never printed: a URL may hold a password
        raise ValueError(
            f"`database_url` must be text (a SQLite file or a Postgres URL), not {type(database_url).__name__}"
        )
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True)
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    elif url.get_backend_name() == "postgresql":  # its dialect is loaded by now anyway
        FOLLOW_UPS.dialect_kwargs["postgresql_where"] = FOLLOW_UP
        PENDING_PULLS.dialect_kwargs["postgresql_where"] = MARKS_PENDING
        sa.event.listen(engine, "do_execute", _binary_results)
    with engine.begin() as connection:
        # Up to date, as a store almost always is: no Alembic to import (schema_version).
        latest, stored = latest_revisions(MIGRATIONS / "versions"), stored_revisions(connection)
        if stored == latest or (not stored and made_new(connection, latest)):  # or a new SQLite store, made in one go
            return engine
        from alembic import command  # only when a migration may be due
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = alembic_config(connection)
        # Channels and a target started together on a new database: one migrates, the
        # others wait for it, then find the schema up to date. A store already up to date
        # takes no lock, so opening one never waits behind a sync's write.
        current = set(MigrationContext.configure(connection).get_current_heads())
        if current != set(ScriptDirectory.from_config(config).get_heads()):
            hold(connection, MIGRATION_LOCK)
            command.upgrade(config, "head")
    return engine


def alembic_config(connection: Connection) -> AlembicConfig:
    """Alembic pointed at the store's migrations, run on `connection` (in its transaction)."""
    from alembic.config import Config  # only where a migration may be due: Alembic costs a start

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# A batch into a grown SQLite store writes index pages all over (Reveni's ids are random): a
# cache that holds them spares reading them again at the next batch, and a WAL checkpointed
# every ten batches or so copies a page many batches rewrote once (issue 22).
# Into a 500k store a 64-128 MB cache, a 2 GB mmap or a 256 MB WAL saved no CPU (issue 22
# round 2): each new return dirties ~6 random index pages whatever the cache holds; nor did
# batches of 2,000 or 5,000 (48 / 128 MB cache: +56 / +183 MB peak) in round 3; 8 KB pages
# (round 4) cut a new store's system time a little and left the 100k ratio as it was.
# Counted page by page (bench/grown_store_pages.py, round 5): 10k new returns write 3.8 log
# pages a return into a 200k store, 1.2 into a new one, and 99% of the difference is the four
# B-trees keyed by Reveni's ids (reveni_returns' key 1.0 a return, exceptions' trace key 0.6,
# documents' reference 0.5, exceptions' return id 0.4): a page a row each once a tree is much
# larger than a batch, whatever the key's width. Only fewer such trees will help: as a
# prototype (tables rebuilt by hand), documents without the reference's index and exceptions
# keyed (return_id, trace_key) alone took 10k returns into a 500k store from 2.15 to 1.96 s
# of CPU (a new store: 1.55 s). A 64 MB cache again saved nothing (+49 MB peak).
# Smaller pages (fewer bytes of those trees a batch; round 6, 50k): 1 KB 8.1 s, 2 KB 6.9 s, 4 KB 6.55 s.
CACHE_KB = 16_384  # each connection's page cache, at most
WAL_PAGES = 32_768  # the WAL a commit checkpoints past: 128 MB (SQLite's default is 1,000 pages)


def next_feed_position(last: int | None) -> int:
    """The position after `last`, and never below the clock's microseconds: a store
    restored from a backup then gives out only positions above every one it gave out
    before the restore, which Khaos may still hold as its continuation."""
    return max((last or 0) + 1, time.time_ns() // 1000)


def next_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """Ids for `count` new rows of `table` (`return_versions`, `documents`), taken before they
    are written: a return's row names its version's, a body its document's. Call it under `lock_feed`."""
    if not count:
        return []
    if conn.dialect.name == "postgresql":  # the column's own sequence, as an insert would take them
        sequence = sa.func.pg_get_serial_sequence(table.name, "id")
        taken = sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, count))
        return sorted(conn.execute(taken).scalars())  # ascending: a later row, a larger id
    # SQLite gives a row the largest id plus one; its write lock is held, so no other writer takes these.
    last = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one_or_none() or 0
    return list(range(last + 1, last + 1 + count))


def chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """`values` in slices small enough for one `IN (...)` list on SQLite and Postgres."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def without_parallel_workers(engine: Engine) -> None:
    """Postgres: every connection of `engine` plans without parallel workers (the channel's).
    A pull's page is a thousand rows found by index; past about 60% of a 1M feed the planner
    gathered them with two workers, whose start alone cost more than the read: a page took
    9 ms against 2 ms (issue 22). Connections already open are closed, to open again with it."""
    if engine.dialect.name != "postgresql":
        return

    def serial(dbapi_connection: Any, _record: object) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        dbapi_connection.commit()  # a session setting, kept past the pool's rollbacks

    sa.event.listen(engine, "connect", serial)
    engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the channel read while the target writes; busy_timeout waits out a writer.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    cursor.close()
