"""No index on `return_versions.return_id`: its one reader, the month-end close, reads the
whole table, and each batch paid for it. Return ids are Reveni's UUIDs, so each batch's
new versions landed on about as many of its pages as it had rows: in a grown store the
most pages a batch wrote to any index (issue 22: nothing a batch does grows with the store).

Revision ID: 0018
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_return_versions_return_id", table_name="return_versions")


def downgrade() -> None:
    op.create_index("ix_return_versions_return_id", "return_versions", ["return_id"])
