"""Every version of a Reveni return, as the store received it, so a month-end close can be
reproduced from what the store knew at the period's end; credit notes keep their Net and
Tax (the VAT split the close checks).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("return_id", sa.Text, nullable=False, index=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    # What a store from before knew: each return's latest version, since it last changed.
    op.execute(
        "INSERT INTO return_versions (return_id, seen_at, record) "
        "SELECT return_id, last_changed, record FROM reveni_returns"
    )
    with op.batch_alter_table("credit_notes") as table:
        table.add_column(sa.Column("net", sa.Numeric(18, 2), nullable=True))
        table.add_column(sa.Column("tax", sa.Numeric(18, 2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_notes") as table:
        table.drop_column("tax")
        table.drop_column("net")
    op.drop_table("return_versions")
