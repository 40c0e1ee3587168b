"""`documents` get an integer `id`, given in order, as their primary key (their reference,
`associated_ref`, stays unique), and `document_bodies` are keyed by it (`document_id`)
instead of by the reference.

References are `RV-<id>` with Reveni's random UUIDs, so each new body's key went to a
random page of the bodies' index: in a grown SQLite store a page written to the WAL and
checkpointed for each new document (issue 22). Keyed by an id given in order, a new body
is appended. Every body moves to its document's id; the downgrade moves them back.

On SQLite both tables are built again (a primary key cannot change in place), `documents`
numbered in the order its rows were written; on Postgres they change in place, keeping
`documents`' fill factor (migration 0019).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)
FOLLOW_UPS = sa.text("sequence > 1")
# `documents`' columns but its id, as migrations 0001 to 0021 left them.
COLUMNS = (
    "associated_ref",
    "return_id",
    "sequence",
    "state",
    "item_ids",
    "hold_reason",
    "source_updated_at",
    "feed_position",
    "created_at",
    "state_changed_at",
    "published_at",
    "first_served_at",
    "last_served_at",
    "ruleset_hash",
    "currency",
)
OLD_DOCUMENTS = sa.table("documents", *map(sa.column, COLUMNS))
OLD_BODIES = sa.table("document_bodies", *map(sa.column, ("associated_ref", "document_id", "body", "lines")))


def _documents(name: str, *key: sa.Column[Any]) -> sa.Table:
    return op.create_table(
        name,
        *key,
        sa.Column("return_id", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("item_ids", sa.Text, nullable=False),
        sa.Column("hold_reason", sa.Text, nullable=False),
        sa.Column("source_updated_at", sa.Text, nullable=False),
        sa.Column("feed_position", sa.BigInteger, nullable=True, unique=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("state_changed_at", Moment, nullable=False),
        sa.Column("published_at", Moment, nullable=True),
        sa.Column("first_served_at", Moment, nullable=True),
        sa.Column("last_served_at", Moment, nullable=True),
        sa.Column("ruleset_hash", sa.String(64), nullable=False, server_default=""),
        sa.Column("currency", sa.String(3), nullable=False, server_default=""),
    )


def _bodies(name: str, key: sa.Column[Any]) -> sa.Table:
    return op.create_table(
        name,
        key,
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("lines", sa.Text, nullable=False, server_default="{}"),
    )


def _swap_in(documents: str, bodies: str) -> None:
    """SQLite: the tables just built replace `documents` and `document_bodies`."""
    op.drop_table("document_bodies")
    op.drop_table("documents")
    op.rename_table(documents, "documents")
    op.rename_table(bodies, "document_bodies")
    op.create_index(
        "ix_documents_follow_ups", "documents", ["return_id"], sqlite_where=FOLLOW_UPS, postgresql_where=FOLLOW_UPS
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("ALTER TABLE documents ADD COLUMN id SERIAL NOT NULL")
        op.execute("ALTER TABLE document_bodies ADD COLUMN document_id INTEGER")
        op.execute(
            "UPDATE document_bodies SET document_id = d.id FROM documents d"
            " WHERE d.associated_ref = document_bodies.associated_ref"
        )
        op.execute("ALTER TABLE document_bodies DROP COLUMN associated_ref")  # its key and its reference with it
        op.execute("ALTER TABLE document_bodies ADD PRIMARY KEY (document_id)")
        op.execute("ALTER TABLE documents DROP CONSTRAINT documents_pkey")
        op.execute("ALTER TABLE documents ADD PRIMARY KEY (id)")
        op.create_unique_constraint("documents_associated_ref_key", "documents", ["associated_ref"])
        op.create_foreign_key(None, "document_bodies", "documents", ["document_id"], ["id"])
        return
    new = _documents(
        "documents_0022",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("associated_ref", sa.Text, nullable=False, unique=True),
    )
    in_order = sa.select(*OLD_DOCUMENTS.c).order_by(sa.literal_column("rowid"))  # numbered as they were written
    op.execute(new.insert().from_select(COLUMNS, in_order))
    bodies = _bodies(
        "document_bodies_0022", sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True)
    )
    old = OLD_BODIES.c
    moved = sa.select(new.c.id, old.body, old.lines).join_from(
        OLD_BODIES, new, new.c.associated_ref == old.associated_ref
    )
    op.execute(bodies.insert().from_select(["document_id", "body", "lines"], moved.order_by(new.c.id)))
    _swap_in("documents_0022", "document_bodies_0022")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("ALTER TABLE document_bodies ADD COLUMN associated_ref TEXT")
        op.execute(
            "UPDATE document_bodies SET associated_ref = d.associated_ref FROM documents d"
            " WHERE d.id = document_bodies.document_id"
        )
        op.execute("ALTER TABLE document_bodies DROP COLUMN document_id")  # its key and its reference with it
        op.execute("ALTER TABLE documents DROP CONSTRAINT documents_associated_ref_key")
        op.execute("ALTER TABLE documents DROP COLUMN id")  # its key and its sequence with it
        op.execute("ALTER TABLE documents ADD PRIMARY KEY (associated_ref)")
        op.execute("ALTER TABLE document_bodies ADD PRIMARY KEY (associated_ref)")
        op.create_foreign_key(None, "document_bodies", "documents", ["associated_ref"], ["associated_ref"])
        return
    new = _documents("documents_0021", sa.Column("associated_ref", sa.Text, primary_key=True))
    stored = sa.table("documents", sa.column("id"), *map(sa.column, COLUMNS))
    op.execute(
        new.insert().from_select(COLUMNS, sa.select(*(stored.c[name] for name in COLUMNS)).order_by(stored.c.id))
    )
    bodies = _bodies(
        "document_bodies_0021",
        sa.Column("associated_ref", sa.Text, sa.ForeignKey("documents.associated_ref"), primary_key=True),
    )
    old = OLD_BODIES.c
    moved = sa.select(stored.c.associated_ref, old.body, old.lines).join_from(
        OLD_BODIES, stored, stored.c.id == old.document_id
    )
    op.execute(bodies.insert().from_select(["associated_ref", "body", "lines"], moved.order_by(stored.c.id)))
    _swap_in("documents_0021", "document_bodies_0021")
