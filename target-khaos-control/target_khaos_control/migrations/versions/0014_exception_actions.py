"""Exceptions people work on: who each is assigned to, and every assignment and
resolution made on the dashboard (who, when, why), kept as an audit trail.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exceptions") as table:
        table.add_column(sa.Column("assigned_to", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "exception_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trace_key", sa.Text, nullable=False, index=True),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("login", sa.Text, nullable=False),
        sa.Column("person", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_to", sa.Text, nullable=False, server_default=""),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
