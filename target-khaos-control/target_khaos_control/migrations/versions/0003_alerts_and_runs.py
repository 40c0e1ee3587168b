"""Alerts and runs: what was alerted for each exception, the rule set each return was last
decided by, and a log of runs (syncs, replays, reconciliations) with their counts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exceptions") as exceptions:
        exceptions.add_column(sa.Column("alerted_status", sa.String(12), nullable=False, server_default=""))
        exceptions.add_column(sa.Column("alerted_severity", sa.String(8), nullable=False, server_default=""))
        exceptions.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("reveni_returns") as returns:
        returns.add_column(sa.Column("ruleset_hash", sa.String(64), nullable=False, server_default=""))
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
    )
