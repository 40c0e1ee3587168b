"""Each document's body (the Khaos `CustomerReturn` as sent, about 0.8 KB) moves into its own
table, `document_bodies`, keyed by the document.

A pull marks its 1,000 documents served; SQLite rewrites a whole row on UPDATE, and Postgres
writes a new tuple with every column, so with the body on the row each pull rewrote about
0.8 MB it never changes (issue 22). The body is written once, with its document, in the
same transaction, and only the target changes it.

Revision ID: 0016
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_bodies",
        sa.Column("associated_ref", sa.Text, sa.ForeignKey("documents.associated_ref"), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.execute("insert into document_bodies (associated_ref, body) select associated_ref, body from documents")
    with op.batch_alter_table("documents") as table:
        table.drop_column("body")


def downgrade() -> None:
    with op.batch_alter_table("documents") as table:
        table.add_column(sa.Column("body", sa.Text, nullable=False, server_default=""))
    op.execute(
        "update documents set body = (select b.body from document_bodies b"
        " where b.associated_ref = documents.associated_ref)"
    )
    op.drop_table("document_bodies")
