"""Each owner's alert incident: open once an alert was sent, resolved once its count is back
to 0, so PagerDuty (or any destination) hears of the resolution exactly once.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_incidents",
        sa.Column("owner", sa.String(20), primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_incidents")
