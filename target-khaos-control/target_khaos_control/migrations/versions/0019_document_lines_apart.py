"""What each of a document's lines credits (`lines`) moves to its body's row in
`document_bodies`; on Postgres, `documents`' new pages are filled to 45%.

A pull marks its 1,000 documents served, and both SQLite and Postgres write a whole new
row for an UPDATE: with `lines` on the row each pull rewrote them too (issue 22). They are
written once, with the document's body, and only the target changes them, as it changes
the body. (`item_ids`, read with every batch's documents, stays: small, and a join there
would cost each return more than it saves a pull.)

A pull marks every document of a page in one statement, so each page must hold a new
version of each of its rows (a little longer: the served times filled in). At 60%
(migration 0008) about a third did not fit, and each of those updates wrote to all three
of the table's indexes; at 45% every one is heap-only. Pages already written keep theirs.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("document_bodies") as table:
        table.add_column(sa.Column("lines", sa.Text, nullable=False, server_default="{}"))
    # Every document has its body's row (migration 0016), so every document's lines move.
    op.execute(
        "update document_bodies set"
        " lines = (select d.lines from documents d where d.associated_ref = document_bodies.associated_ref)"
    )
    with op.batch_alter_table("documents") as table:
        table.drop_column("lines")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE documents SET (fillfactor = 45)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE documents SET (fillfactor = 60)")
    with op.batch_alter_table("documents") as table:
        table.add_column(sa.Column("lines", sa.Text, nullable=False, server_default="{}"))
    op.execute(
        "update documents set"
        " lines = (select b.lines from document_bodies b where b.associated_ref = documents.associated_ref)"
    )
    with op.batch_alter_table("document_bodies") as table:
        table.drop_column("lines")
