"""Rule sets: which rule set made each document and exception; exception severity and details.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as documents:
        documents.add_column(sa.Column("ruleset_hash", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("exceptions") as exceptions:
        exceptions.add_column(sa.Column("severity", sa.String(8), nullable=False, server_default="high"))
        exceptions.add_column(sa.Column("details", sa.Text, nullable=False, server_default="{}"))
        exceptions.add_column(sa.Column("ruleset_hash", sa.String(64), nullable=False, server_default=""))
