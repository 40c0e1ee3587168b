"""A store belongs to one client: the first target or channel to open it writes the
client's name here, and any other client's is refused (a second client's loader that
inherited the first one's `database_url` must never write into it).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_owner",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_owner")
