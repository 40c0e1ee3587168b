"""A pull is logged as the stretch of the feed it served, and the log is bounded; the
documents never served get an index of their own, for the first-contact walk.

Each pull used to keep every reference it served (about 43 KB a pull, without end). One
pull is one contiguous stretch of the feed, so its first and last position say the same.
Pulls logged before keep their references only where they were a re-request.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PULLS_KEPT = 100_000  # as store.PULLS_KEPT, fixed here as it was when this ran


def upgrade() -> None:
    with op.batch_alter_table("pulls") as table:
        table.add_column(sa.Column("first_position", sa.BigInteger, nullable=True))
        table.add_column(sa.Column("last_position", sa.BigInteger, nullable=True))
    op.create_index(
        "ix_documents_unserved",
        "documents",
        ["feed_position"],
        sqlite_where=sa.text("state = 'published'"),
        postgresql_where=sa.text("state = 'published'"),
    )
    conn = op.get_bind()
    last = conn.execute(sa.text("select max(id) from pulls")).scalar_one_or_none()
    if last is not None:
        conn.execute(sa.text("delete from pulls where id <= :oldest"), {"oldest": last - PULLS_KEPT})
    position = sa.text("select feed_position from documents where associated_ref = :ref")
    pulled = conn.execute(
        sa.text("select id, refs from pulls where specific_ids = :no and refs != '[]'"), {"no": False}
    )
    for pull_id, refs in pulled.all():
        served = json.loads(refs)
        conn.execute(
            sa.text("update pulls set first_position = :first, last_position = :last, refs = '[]' where id = :id"),
            {
                "first": conn.execute(position, {"ref": served[0]}).scalar_one_or_none(),
                "last": conn.execute(position, {"ref": served[-1]}).scalar_one_or_none(),
                "id": pull_id,
            },
        )
