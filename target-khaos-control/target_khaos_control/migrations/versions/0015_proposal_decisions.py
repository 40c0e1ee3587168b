"""What operators decided about the fixes the integration proposed: who, when, what.

An accepted proposal ranks first for the same Reveni reason at another client; a rejected
one is never offered again for its subject (issue 21).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("proposal_id", sa.String(16), nullable=False, index=True),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("meaning", sa.Text, nullable=False, server_default=""),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
