"""`documents.return_id` indexed only for follow-up documents (sequence 2 on): a return's
first document is found by its reference, `RV-<id>` (`documents.associated_ref`), which the
primary key indexes already. Return ids are Reveni's UUIDs, so the index of every document's
return id took each new document's row onto a random page: in a grown SQLite store a page
written and checkpointed for each new document (issue 22). Follow-ups are few; their index
stays small.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

FOLLOW_UPS = sa.text("sequence > 1")


def upgrade() -> None:
    op.drop_index("ix_documents_return_id", table_name="documents")
    op.create_index(
        "ix_documents_follow_ups", "documents", ["return_id"], sqlite_where=FOLLOW_UPS, postgresql_where=FOLLOW_UPS
    )


def downgrade() -> None:
    op.drop_index("ix_documents_follow_ups", table_name="documents")
    op.create_index("ix_documents_return_id", "documents", ["return_id"])
