"""`pulls.marks_pending`: a pull is logged, and committed, before Khaos gets its answer,
and its documents are marked served after (served_marks.py), so marking a thousand rows
no longer holds up each pull of a drain (issue 22). Every pull logged before this
migration marked its documents as it served them: none is pending.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

PENDING = sa.column("marks_pending", sa.Boolean).is_(True)  # as store.MARKS_PENDING: the query's own words


def upgrade() -> None:
    op.add_column("pulls", sa.Column("marks_pending", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_pulls_marks_pending", "pulls", ["id"], sqlite_where=PENDING, postgresql_where=PENDING)


# A pending pull's documents marked served as served_marks.settle marks them, fixed here as it was.
MARK = sa.text(
    "UPDATE documents SET last_served_at = :at, first_served_at = coalesce(first_served_at, :at),"
    " state_changed_at = CASE WHEN state = 'published' THEN :at ELSE state_changed_at END,"
    " state = CASE WHEN state = 'published' THEN 'served' ELSE state END"
    " WHERE feed_position BETWEEN :first AND :last AND state IN ('published', 'served', 're_requested')"
)


def downgrade() -> None:
    # Marks still pending are written first, pull by pull in order: dropping them would lose them.
    bind = op.get_bind()
    pending = bind.execute(
        sa.text("SELECT first_position, last_position, at FROM pulls WHERE marks_pending ORDER BY id")
    ).all()
    for first, last, at in pending:
        bind.execute(MARK, {"first": first, "last": last, "at": at})  # `at` as stored: written back as it was read
    op.drop_index("ix_pulls_marks_pending", table_name="pulls")
    with op.batch_alter_table("pulls") as batch:
        batch.drop_column("marks_pending")
